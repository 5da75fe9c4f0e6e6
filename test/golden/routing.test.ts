// Golden tests of the routing renderers (FRR, BIRD, nftables) on every fixture mesh and node. The files under
// test/golden/<mesh>/<node>/ are the reviewed output (files.txt lists which exist); UPDATE_GOLDEN=1 rewrites them.
import { describe, expect, it } from "vitest";
import { expectGolden } from "../helpers/golden.js";
import { FIXTURE_MESHES } from "../helpers/meshes.js";
import { routingOutputs } from "../helpers/routing.js";

describe.each(FIXTURE_MESHES)("routing golden files: %s", (meshName) => {
  it.each(routingOutputs(meshName).map((o) => [o.node, o] as const))("%s", (_, o) => {
    const names = Object.keys(o.files).sort();
    expect(names.length).toBeGreaterThan(0);
    expectGolden(`${o.mesh}/${o.node}/files.txt`, `${names.join("\n")}\n`);
    for (const name of names) expectGolden(`${o.mesh}/${o.node}/${name}`, o.files[name] as string);
  });
});
