// showconf against the real vwgen's outputs: equal line for line, except vwgen's documented defects.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { meshFromDoc } from "../../src/model/mesh.js";
import { parseToml } from "../../src/model/toml.js";
import { renderShowconf } from "../../src/render/showconf.js";
import { FIXTURES } from "../helpers/env.js";
import { lineDiff as diff } from "../helpers/line-diff.js";

const load = (dir: string, file: string) => {
  const path = join(FIXTURES, dir, file);
  const text = readFileSync(path, "utf8");
  return meshFromDoc(file.replace(/\.conf$/, ""), parseToml(text, path), { file: path, text });
};

// Each intentional difference, and why (README "Differences from vwgen").
const INTENDED: Record<string, string[]> = {
  "basic3/node1": [],
  "basic3/node2": [],
  "basic3/node3": [],
  "blacklist4/a": [
    // fwmark in hex needs the 0x prefix for wg(8)
    "+FwMark = 0x1a",
    "-FwMark = 1a",
    // the IPv6 endpoint vwgen mangled, repaired
    "+Endpoint = [2001:db8::b]:51821",
    // keepalive is the local node's (a: 25) on every peer, not only on peers whose own value is non-zero
    "+PersistentKeepalive = 25",
    "-Endpoint = [[2001:db8::b]:51821]:54228",
    "+#PersistentKeepalive = 25",
  ],
  "blacklist4/b": ["-PersistentKeepalive = 0", "-PersistentKeepalive = 0"],
  "blacklist4/c": ["-#PersistentKeepalive = 0", "+Endpoint = [2001:db8::b]:51821", "-Endpoint = [[2001:db8::b]:51821]:54228", "-PersistentKeepalive = 0"],
  "blacklist4/d": ["+Endpoint = [2001:db8::b]:51821", "+PersistentKeepalive = 15", "-Endpoint = [[2001:db8::b]:51821]:54228", "+PersistentKeepalive = 15"],
};

describe("showconf equals vwgen's output except its defects", () => {
  it.each(Object.keys(INTENDED))("%s", (key) => {
    const [dir, node] = key.split("/") as [string, string];
    const mesh = load(dir, dir === "basic3" ? "ciabmesh.conf" : "lab.conf");
    const ours = renderShowconf(mesh, mesh.nodes.find((n) => n.name === node)!).split("\n");
    const theirs = readFileSync(join(FIXTURES, dir, `showconf-${node}.conf`), "utf8").split("\n");
    expect(diff(theirs, ours)).toEqual(INTENDED[key]);
  });
});
