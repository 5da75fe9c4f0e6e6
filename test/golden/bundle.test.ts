// Golden tests of every renderer: the whole bundle of every node of every fixture mesh (WireGuard file, desired
// state, FRR/BIRD, nftables, scripts, systemd unit, manifest), plus the topology picture. The files under
// test/golden/<mesh>/ are the reviewed output; UPDATE_GOLDEN=1 rewrites them. Secrets never go into golden files
// (even the fixtures' fake ones): they are redacted here, and a separate test checks they are in the bundle.

import { describe, expect, it } from "vitest";
import { topology } from "../../src/model/topology.js";
import { renderBundle } from "../../src/render/bundle.js";
import { renderDot } from "../../src/render/dot.js";
import { expectGolden } from "../helpers/golden.js";
import { FIXTURE_MESHES, loadFixture } from "../helpers/meshes.js";

const redact = (text: string) =>
  text
    .replace(/^(PrivateKey|PresharedKey) = .*$/gm, "$1 = <redacted>")
    .replace(/^( neighbor \S+ password ).*$/gm, "$1<redacted>")
    // The bundle's secrets file (render/desired.ts): every key it holds.
    .replace(/^(\s*"(privateKey|[A-Za-z0-9+/]{43}=)": )"[^"]*"/gm, '$1"<redacted>"');

describe.each(FIXTURE_MESHES)("bundle golden files: %s", (meshName) => {
  const mesh = loadFixture(meshName);
  it.each(mesh.nodes.map((n) => n.name))("%s", (name) => {
    const files = renderBundle(topology(mesh).node(mesh.nodes.find((n) => n.name === name)!), "golden-digest");
    expect(files.length).toBeGreaterThan(5);
    expectGolden(`${meshName}/${name}/files.txt`, `${files.map((f) => `${f.path} 0${f.mode.toString(8)}`).join("\n")}\n`);
    for (const f of files) expectGolden(`${meshName}/${name}/${f.path}`, redact(f.content));
  });
  it.each(mesh.nodes.map((n) => n.name))("%s: the WireGuard file carries the node's private key", (name) => {
    const node = mesh.nodes.find((n) => n.name === name)!;
    const wg = renderBundle(topology(mesh).node(node), "x").find((f) => f.path.endsWith(".conf") && f.path.startsWith("wireguard/"))!;
    expect(wg.content).toContain(`PrivateKey = ${node.privateKey}`);
    expect(wg.mode).toBe(0o600);
  });
  it("topology.dot", () => expectGolden(`${meshName}/topology.dot`, renderDot(topology(mesh))));
});
