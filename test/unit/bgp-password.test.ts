// TCP-MD5 for BGP (issue 20): `bgp-password on|off|SECRET`, rendered as `neighbor X password` on every session,
// kept like a secret (never in an error message, `show --json` only with --show-keys).

import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { addNodes, applySet, ensureNetwork } from "../../src/model/edit.js";
import { CiabError } from "../../src/model/errors.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import type { TomlTable } from "../../src/model/toml.js";
import { topology } from "../../src/model/topology.js";
import { renderFrr } from "../../src/render/frr.js";
import { showJson } from "../../src/render/show.js";

const env = { random: seededRandom("bgp-password") };
const docWith = (...args: string[]): TomlTable => {
  const doc: TomlTable = {};
  ensureNetwork(doc, env.random);
  addNodes(doc, "m", ["a", "b", "c"], env.random);
  applySet(doc, "m", ["pool-ipv4", "172.21.0.0/24", "route-reflectors", "a", ...args], env);
  return doc;
};
const mesh = (doc: TomlTable) => meshFromDoc("m", doc, { file: "m.conf" });

describe("bgp-password", () => {
  it("on: a random secret on every BGP session of every node, the same on both ends", () => {
    const doc = docWith("bgp-password", "on");
    const pw = (doc.Network as TomlTable).BGPPassword as string;
    expect(pw).toMatch(/^[A-Za-z0-9+/]{43}$/);
    const m = mesh(doc);
    for (const n of m.nodes) {
      const conf = renderFrr(topology(m).node(n)).frrConf;
      const sessions = conf.match(/^ neighbor \S+ remote-as /gm)?.length ?? 0;
      expect(sessions).toBeGreaterThan(0);
      expect(conf.match(new RegExp(`^ neighbor \\S+ password ${pw.replace(/[+/]/g, "\\$&")}$`, "gm"))?.length).toBe(sessions);
    }
    // `on` again keeps the secret (sessions stay up); `off` removes it.
    applySet(doc, "m", ["bgp-password", "on"], env);
    expect((doc.Network as TomlTable).BGPPassword).toBe(pw);
    applySet(doc, "m", ["bgp-password", "off"], env);
    expect(renderFrr(topology(mesh(doc)).node(mesh(doc).nodes[0]!)).frrConf).not.toMatch(/password/);
  });

  it("a secret of one's own; a bad one is refused without repeating it", () => {
    expect((docWith("bgp-password", "s3cret-Value_1").Network as TomlTable).BGPPassword).toBe("s3cret-Value_1");
    for (const bad of ["short", "has space inside", "x".repeat(81), "line\nbreak!!"]) {
      let err: unknown;
      try {
        docWith("bgp-password", bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CiabError);
      expect((err as CiabError).message).not.toContain(bad);
    }
  });

  it("show --json hides it unless --show-keys", () => {
    const m = mesh(docWith("bgp-password", "s3cret-Value_1"));
    expect(JSON.stringify(showJson(m, { showKeys: false }))).not.toContain("s3cret-Value_1");
    expect(showJson(m, { showKeys: false }).settings.bgpPassword).toBe("(set)");
    expect(showJson(m, { showKeys: true }).settings.bgpPassword).toBe("s3cret-Value_1");
  });

  it("a malformed BGPPassword in the file is a deploy problem that never shows the value", () => {
    const doc = docWith();
    (doc.Network as TomlTable).BGPPassword = "bad secret";
    const m = mesh(doc);
    expect(m.network.bgpPassword).toBeUndefined();
    const text = JSON.stringify(m.problems ?? m.warnings);
    expect(text).toContain("BGPPassword");
    expect(text).not.toContain("bad secret");
  });
});
