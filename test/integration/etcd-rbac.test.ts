// Least privilege against a real etcd with auth on (issue 12 part 6): a node's credential writes its own record,
// and etcd itself refuses its writes to another node's record or the mesh; the same writes succeed as admin
// (negative control). Also: join tokens are single use through etcd's delete (take once).
// The server is a throw-away etcd on 127.0.0.1 (random free ports), killed by PID and its data dir deleted.
// (Its own etcd start with auth steps; test/helpers/etcd.ts's startEtcd({ auth }) could replace it.)
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enableAuth, etcdKeys, grantNode, revokeNode } from "../../src/registry/etcd-access.js";
import { freePort } from "../helpers/etcd.js";

let proc: ChildProcess | undefined;
let dir = "";
let url = "";
const ROOT_PW = "root-pw-hE-test";
const prefix = "/ciab";
const k = etcdKeys(prefix, "m");

beforeAll(async () => {
  const [client, peer] = [await freePort(), await freePort()];
  dir = mkdtempSync(join(tmpdir(), "hE-etcd-"));
  url = `http://127.0.0.1:${client}`;
  const purl = `http://127.0.0.1:${peer}`;
  proc = spawn(
    "etcd",
    [
      "--data-dir",
      dir,
      "--listen-client-urls",
      url,
      "--advertise-client-urls",
      url,
      "--listen-peer-urls",
      purl,
      "--initial-advertise-peer-urls",
      purl,
      "--initial-cluster",
      `default=${purl}`,
      "--log-level",
      "error",
    ],
    { stdio: "ignore" },
  );
  const probe = new Etcd3({ hosts: url });
  for (let i = 0; ; i++) {
    try {
      await probe.get("probe").string();
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await enableAuth(probe, ROOT_PW);
  probe.close();
}, 30_000);

afterAll(() => {
  if (proc?.pid) process.kill(proc.pid, "SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const as = (auth?: { username: string; password: string }) => new Etcd3({ hosts: url, auth });
const admin = () => as({ username: "root", password: ROOT_PW });
const outcome = (b: { exec(): Promise<unknown> }) =>
  b.exec().then(
    () => "ok",
    (e: Error) => (/permission denied/i.test(e.message) ? "denied" : `error: ${e.message}`),
  );

describe("etcd RBAC per node", () => {
  it("a node writes its own record; etcd refuses its writes to another node's record and to the mesh; admin may", async () => {
    const adm = admin();
    await adm.put(k.mesh).value("[Network]\n");
    await adm.put(`${k.node("b")}record`).value(JSON.stringify({ node: "b", publicKey: "B" }));
    const credA = await grantNode(adm, prefix, "m", "a", "tok1");
    const a = as({ username: credA.user, password: credA.password });
    try {
      expect(await outcome(a.put(`${k.node("a")}record`).value(JSON.stringify({ node: "a", publicKey: "A" })))).toBe("ok");
      expect(await a.get(k.mesh).string()).toBe("[Network]\n");
      expect(await a.get(`${k.node("b")}record`).string()).toContain('"B"');
      // the attack: overwrite b's public key / subnets, delete b's record, edit the mesh
      expect(await outcome(a.put(`${k.node("b")}record`).value(JSON.stringify({ node: "b", publicKey: "EVIL", subnets: ["10.0.0.0/8"] })))).toBe("denied");
      expect(await outcome(a.delete().key(`${k.node("b")}record`))).toBe("denied");
      expect(await outcome(a.put(k.mesh).value("evil"))).toBe("denied");
      expect(await outcome(a.put(`${k.nodes}ab/record`).value("prefix trick"))).toBe("denied");
      expect(await adm.get(`${k.node("b")}record`).string()).toContain('"B"');
      // its own token key only
      expect(await outcome(a.delete().key(k.token("tok1")))).toBe("ok");
      expect(await outcome(a.delete().key(k.token("tok2")))).toBe("denied");
      // negative control: the same writes as admin succeed
      expect(await outcome(adm.put(`${k.node("b")}record`).value(JSON.stringify({ node: "b", publicKey: "EVIL" })))).toBe("ok");
      expect(await outcome(adm.put(k.mesh).value("[Network]\n#2\n"))).toBe("ok");
      // revoking the node: its credential stops working
      await revokeNode(adm, "m", "a");
      const again = as({ username: credA.user, password: credA.password });
      expect(await outcome(again.put(`${k.node("a")}record`).value("x"))).not.toBe("ok");
      again.close();
    } finally {
      a.close();
      adm.close();
    }
  }, 30_000);

  it("a token is taken once (delete with prev kv), the second take gets nothing", async () => {
    const adm = admin();
    try {
      await adm.put(k.token("t9")).value("stored");
      const take = async () => (await adm.delete().key(k.token("t9")).getPrevious())[0]?.value.toString();
      const [x, y] = await Promise.all([take(), take()]);
      expect([x, y].filter((v) => v === "stored")).toHaveLength(1);
      expect([x, y].filter((v) => v === undefined)).toHaveLength(1);
    } finally {
      adm.close();
    }
  }, 30_000);
});
