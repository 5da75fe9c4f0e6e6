import { describe, expect, it } from "vitest";
import { meshFromDoc } from "../../src/model/mesh.js";
import type { TomlTable } from "../../src/model/toml.js";
import { showJson, showText } from "../../src/render/show.js";
import { fakeKey } from "../helpers/meshes.js";

// show's whitelist line: every other node (cut out of all names joined once) unless the node blacklists some
const mesh = (names: string[], blacklist: [string, string][] = []) =>
  meshFromDoc(
    "m",
    {
      Network: { AddressPoolIPv4: "10.9.0.0/24" },
      Node: Object.fromEntries(
        names.map((n, i) => [n, { Address: [`10.9.0.${i + 1}/24`], LinkLayerAddress: [`169.254.9.${i + 1}/16`], PrivateKey: fakeKey(n) } as TomlTable]),
      ),
      PeerBlacklist: { Blacklist: blacklist },
    },
    { file: "m.conf" },
  );
const lines = (m: ReturnType<typeof mesh>) => [...showText(m, { showKeys: false }).matchAll(/whitelist: ?(.*)/g)].map((x) => x[1]);

describe("show: the whitelist of each node", () => {
  it.each([[["solo"]], [["a", "b"]], [["a", "bb", "ccc", "d"]]])("equals the JSON document's list for %j", (names) => {
    const m = mesh(names);
    expect(lines(m)).toEqual(showJson(m, { showKeys: false }).nodes.map((n) => n.whitelist.join(", ")));
    expect(lines(m)[0]).toBe(names.slice(1).join(", "));
  });
  it("leaves out what a node blacklists", () => {
    const m = mesh(["a", "b", "c"], [["b", "a"]]);
    expect(lines(m)).toEqual(["b, c", "c", "a, b"]);
  });
});
