// First contact (keys/contact.ts, issue 19): on a new interface exactly one end of every pair may start the first
// handshake, so the two ends' initiations cannot cross. Checked on the planner (ciab up) and on the bundle's
// bin/ciab-up text, for every node of a mesh: the waiting end configures the peer without its endpoint, pings only
// the peers it initiates to, and sets the held-back endpoints last.

import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { userspaceBackend } from "../../src/adapters/wireguard.js";
import { waitsForPeer } from "../../src/keys/contact.js";
import { addNodes, applySet } from "../../src/model/edit.js";
import { topology } from "../../src/model/topology.js";
import { plan, waitingPeers } from "../../src/plan/plan.js";
import type { DesiredHost, ObservedHost } from "../../src/plan/types.js";
import { renderBundle } from "../../src/render/bundle.js";
import { desiredOf, emptyHost, meshDoc, meshOf, NET, observedOf, random } from "../helpers/host.js";

const doc = meshDoc();
addNodes(doc, NET, ["n4", "n5"], random());
for (const n of ["n4", "n5"]) applySet(doc, NET, ["node", n, "endpoint", `198.18.${n.slice(1)}.1:51820`, "listen-port", "51820"], { random: random() });
const mesh = meshOf(doc);
const desired = Object.fromEntries(mesh.nodes.map((n) => [n.name, desiredOf(mesh, n.name)])) as Record<string, DesiredHost>;
const empty: ObservedHost = emptyHost();

describe("first contact", () => {
  it.each([
    ["lower key initiates", "AAAA", "BBBB", false],
    ["higher key waits", "BBBB", "AAAA", true],
    ["case matters as in base64 (Z < a)", "aaaa", "ZZZZ", true],
  ])("%s", (_n, self, peer, waits) => expect(waitsForPeer(self, peer)).toBe(waits));

  it("every pair has exactly one initiator", () => {
    for (const a of mesh.nodes)
      for (const b of mesh.nodes) if (a !== b) expect(waitsForPeer(a.publicKey, b.publicKey) !== waitsForPeer(b.publicKey, a.publicKey)).toBe(true);
  });

  it.each(mesh.nodes.map((n) => n.name))("%s: a fresh ciab up holds back the endpoints of the peers it waits for, and sets them last", (name) => {
    const d = desired[name] as DesiredHost;
    const wg = d.wireguard[0]!;
    const wait = waitingPeers(wg);
    const first = wg.peers.filter((p) => !wait.includes(p));
    const actions = plan(d, empty, { backend: userspaceBackend({}) });
    const sync = actions.find((a) => a.kind === "wg-sync")?.commands[0]?.input ?? "";
    for (const p of wait) expect(sync).not.toContain(`Endpoint = ${p.endpoint}`);
    for (const p of first) expect(sync).toContain(`Endpoint = ${p.endpoint}`);
    const kick = actions.find((a) => a.kind === "wg-contact");
    expect(kick?.commands[0]?.argv.slice(4) ?? []).toEqual(first.map((p) => p.allowedIPs[0]?.split("/")[0]));
    const last = actions.at(-1);
    if (wait.length) {
      expect(last?.kind).toBe("wg-endpoint");
      expect(last?.commands[0]?.argv).toEqual(["wg", "set", NET, ...wait.flatMap((p) => ["peer", p.publicKey, "endpoint", p.endpoint])]);
    } else expect(actions.map((a) => a.kind)).not.toContain("wg-endpoint");
  });

  it("waiting is only for peers that have an endpoint, and only on a new interface", () => {
    const withWait = mesh.nodes.map((n) => desired[n.name] as DesiredHost).find((d) => waitingPeers(d.wireguard[0]!).length > 0) as DesiredHost;
    const wg = withWait.wireguard[0]!;
    const noEndpoints = { ...wg, peers: wg.peers.map((p) => ({ ...p, endpoint: undefined })) };
    expect(waitingPeers(noEndpoints)).toEqual([]);
    const again = plan(withWait, observedOf(withWait.node as "n1", withWait));
    expect(again.map((a) => a.kind)).not.toContain("wg-endpoint");
    expect(again.map((a) => a.kind)).not.toContain("wg-contact");
  });

  it.each(mesh.nodes.map((n) => n.name))("%s: bin/ciab-up strips, pings and sets the same peers as the planner", (name) => {
    const node = mesh.nodes.find((n) => n.name === name);
    if (!node) throw new Error(name);
    const files = renderBundle(topology(mesh).node(node), "x");
    const up = files.find((f) => f.path === "bin/ciab-up")?.content ?? "";
    const conf = files.find((f) => f.path === `wireguard/${NET}.conf`)?.content ?? "";
    const d = desired[name] as DesiredHost;
    const wg = d.wireguard[0]!;
    const wait = waitingPeers(wg);
    const first = wg.peers.filter((p) => !wait.includes(p));
    if (wait.length) {
      // The script's own awk program, run on the bundle's wg-quick file: exactly the waiting peers lose their endpoint.
      const m = /LC_ALL=C awk -v self='([^']*)' '([^']*)' "\/etc\/wireguard\/\$NET\.conf"/.exec(up);
      expect(m?.[1]).toBe(node.publicKey);
      const r = spawnSync("awk", ["-v", `self=${m?.[1]}`, m?.[2] ?? ""], { input: conf, encoding: "utf8", env: { ...process.env, LC_ALL: "C" } });
      expect(r.status).toBe(0);
      for (const p of wait) expect(r.stdout).not.toContain(`Endpoint = ${p.endpoint}`);
      for (const p of first) if (p.endpoint) expect(r.stdout).toContain(`Endpoint = ${p.endpoint}`);
      expect(r.stdout.replace(/\nEndpoint = .*/g, "")).toBe(conf.replace(/\nEndpoint = .*/g, ""));
      // Once up, the peers get their endpoints from the wg-quick file itself (a sync keeps the sessions).
      expect(up).toMatch(/^if \[ "\$\{fresh:-\}" = yes \]; then sync_peers; fi$/m);
    } else {
      expect(up).toContain('wg-quick up "$NET" ||');
      expect(up).not.toContain("sync_peers; fi");
    }
    if (first.length) expect(up).toContain(`for v in ${first.map((p) => p.allowedIPs[0]?.split("/")[0]).join(" ")}; do ping`);
  });
});
