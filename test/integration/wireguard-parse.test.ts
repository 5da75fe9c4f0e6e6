// Every WireGuard file ciab writes is accepted by the real tools: `wg-quick strip` + `wg setconf` into a
// wireguard-go interface in a private namespace, and `wg showconf` reads back what we meant.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Mesh, meshFromDoc } from "../../src/model/mesh.js";
import { parseToml } from "../../src/model/toml.js";
import { topology } from "../../src/model/topology.js";
import { checkRenderable } from "../../src/render/bundle.js";
import { renderShowconf } from "../../src/render/showconf.js";
import { renderWireguard } from "../../src/render/wireguard.js";
import { tempDir } from "../helpers/cli.js";
import { FIXTURES, hasTool, isRoot, ROOT } from "../helpers/env.js";
import { withNetns } from "../helpers/netns.js";

const ready = isRoot && hasTool("wireguard-go") && hasTool("wg-quick");

const load = (path: string, name: string): Mesh => {
  const text = readFileSync(path, "utf8");
  return meshFromDoc(name, parseToml(text, path), { file: path, text });
};

/** Load a wg-quick file into a fresh wireguard-go interface; return `wg showconf` (or the failure). */
function loadIntoWireguardGo(conf: string, ifname: string) {
  const dir = tempDir("ciab-wg-");
  const file = join(dir, `${ifname}.conf`);
  writeFileSync(file, conf, { mode: 0o600 });
  return withNetns("wg", (ns) =>
    ns.sh(
      `wireguard-go ${ifname} >/dev/null 2>&1 && wg-quick strip "${file}" > "${dir}/stripped" && WG_ENDPOINT_RESOLUTION_RETRIES=0 wg setconf ${ifname} "${dir}/stripped" && wg showconf ${ifname}`,
    ),
  );
}

const MESHES = [
  { path: join(FIXTURES, "basic3", "ciabmesh.conf"), name: "ciabmesh" },
  { path: join(FIXTURES, "blacklist4", "lab.conf"), name: "lab" },
  ...["rr3", "rr5-blacklist", "ospf4-bird", "dualstack"].map((m) => ({
    path: join(ROOT, "test", "fixtures", "meshes", `${m}.conf`),
    name: m.replace(/-.*/, ""),
  })),
];

describe.skipIf(!ready)("WireGuard files load into wireguard-go", () => {
  for (const { path, name } of MESHES) {
    const mesh = load(path, name);
    it.each(mesh.nodes.map((n) => n.name))(`${name}: showconf of %s`, (node) => {
      const n = mesh.nodes.find((x) => x.name === node)!;
      const r = loadIntoWireguardGo(renderShowconf(mesh, n), mesh.name);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const peers = r.stdout.match(/^\[Peer\]$/gm) ?? [];
      // showconf follows vwgen: a one-way entry [a, b] comments b out of a's file only (the bundle blocks both ways).
      expect(peers).toHaveLength(mesh.nodes.length - 1 - mesh.nodes.filter((p) => mesh.blacklistDirected.has(`${n.name}>${p.name}`)).length);
      if (n.fwMark) expect(r.stdout).toContain(`FwMark = 0x${n.fwMark.toString(16)}`);
      if (n.privateKey) expect(r.stdout).toContain(`PrivateKey = ${n.privateKey}`);
    });
    let renderable = true;
    try {
      checkRenderable(topology(mesh));
    } catch {
      renderable = false;
    }
    it.skipIf(!renderable).each(mesh.nodes.map((n) => n.name))(`${name}: bundle WireGuard file of %s`, (node) => {
      const n = mesh.nodes.find((x) => x.name === node)!;
      const r = loadIntoWireguardGo(renderWireguard(topology(mesh).node(n)), mesh.name);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      for (const p of mesh.nodes.filter((x) => x.name !== n.name && !mesh.blacklist.has([n.name, x.name].sort().join(",")))) {
        expect(r.stdout).toContain(`PublicKey = ${p.publicKey}`);
        if (p.endpoint) expect(r.stdout).toContain(`Endpoint = ${p.endpoint.text}`);
      }
    });
  }

  it.each([
    ["showconf-a.conf", /Fwmark is neither 0\/off nor 0-0xffffffff: `1a'/],
    ["showconf-d.conf", /Servname not supported for ai_socktype: `\[\[2001:db8::b\]:51821\]:54228/],
  ])("vwgen's own %s is refused by wg (its defects; the checker can fail)", (file, why) => {
    const r = loadIntoWireguardGo(readFileSync(join(FIXTURES, "blacklist4", file), "utf8"), "lab");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(why);
  });
});
