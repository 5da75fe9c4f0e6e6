// The etcd driver against a real etcd (Debian's etcd-server, started on loopback by the test).
import { afterAll, beforeAll, describe } from "vitest";
import { EtcdRegistry } from "../../src/registry/etcd.js";
import { etcdMissing, startEtcd, type TestEtcd } from "../helpers/etcd.js";
import { registryConformance } from "./conformance.js";

describe.skipIf(etcdMissing !== undefined)(`etcd driver${etcdMissing ? ` — skipped: ${etcdMissing}` : ""}`, () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => etcd?.stop());
  registryConformance("etcd", async () => EtcdRegistry.open({ hosts: [etcd.host], prefix: "conformance" }));
});
