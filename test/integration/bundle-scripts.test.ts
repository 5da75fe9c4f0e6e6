// The bundle's scripts are valid POSIX sh with no shellcheck finding, for every fixture mesh and node.

import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { topology } from "../../src/model/topology.js";
import { renderBundle } from "../../src/render/bundle.js";
import { tempDir } from "../helpers/cli.js";
import { hasTool } from "../helpers/env.js";
import { FIXTURE_MESHES, loadFixture } from "../helpers/meshes.js";

const scripts = FIXTURE_MESHES.flatMap((name) => {
  const mesh = loadFixture(name);
  return mesh.nodes.flatMap((n) =>
    renderBundle(topology(mesh).node(n), "test")
      .filter((f) => f.path.startsWith("bin/"))
      .map((f) => ({ id: `${name}/${n.name}/${f.path}`, content: f.content })),
  );
});

describe("bundle scripts", () => {
  it.each(scripts)("$id parses as POSIX sh", ({ content }) => {
    const file = join(tempDir(), "s.sh");
    writeFileSync(file, content);
    const r = spawnSync("sh", ["-n", file], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
  it.skipIf(!hasTool("shellcheck")).each(scripts)("$id passes shellcheck", ({ content }) => {
    const file = join(tempDir(), "s.sh");
    writeFileSync(file, content);
    const r = spawnSync("shellcheck", ["-s", "sh", "-f", "gcc", file], { encoding: "utf8" });
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  });
});
