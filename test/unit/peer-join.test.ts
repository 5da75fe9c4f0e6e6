// peerJoin(): a node's peer pieces cut from one mesh-wide join equal the plain join of its peers' pieces.
import { describe, expect, it } from "vitest";
import type { MeshNode } from "../../src/model/mesh.js";
import { peerJoin } from "../../src/render/peer-join.js";

const nodes = ["a", "b", "c", "d", "e"].map((name) => ({ name }) as MeshNode);
const pieces: Record<string, string> = { a: "A", b: "B", c: "", d: "D", e: "E" };
const pick = (names: string) => nodes.filter((n) => names.includes(n.name));
const plain = (peers: MeshNode[], sep: string, replace?: Map<MeshNode, string>) =>
  peers
    .map((p) => replace?.get(p) ?? pieces[p.name])
    .filter((x) => x !== "")
    .join(sep);

describe("peerJoin", () => {
  const j = peerJoin(nodes, (p) => pieces[p.name] as string);
  it.each<[string, string, string, Record<string, string>?]>([
    ["every node", "abcde", ", "],
    ["without the first", "bcde", ", "],
    ["without the last", "abcd", ", "],
    ["a hole in the middle", "abde", ", "],
    ["an empty piece between two runs", "abd", "-"],
    ["two holes", "ace", ""],
    ["none", "", ", "],
    ["one replaced", "abde", ", ", { b: "B'" }],
    ["one replaced by nothing", "abde", ", ", { d: "" }],
    ["the empty piece replaced", "abcde", ";", { c: "C" }],
  ])("%s", (_, names, sep, replace) => {
    const r = replace ? new Map(Object.entries(replace).map(([k, v]) => [nodes.find((n) => n.name === k) as MeshNode, v])) : undefined;
    expect(j.join(pick(names), sep, r)).toBe(plain(pick(names), sep, r));
  });
  it("refuses peers out of the mesh's order (the cut would be wrong)", () => {
    expect(() => j.join([nodes[2], nodes[0]] as MeshNode[], ", ")).toThrow(/out of order/);
  });
});
