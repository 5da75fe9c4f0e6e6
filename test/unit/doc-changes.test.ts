// What an edit changed, from the mesh document before and after (the edits' --json documents): nodes added and
// removed, keys set with before/after and secrets redacted, blacklist pairs.
import { describe, expect, it } from "vitest";
import { docChanges, REDACTED } from "../../src/model/doc-changes.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import { parseToml, type TomlTable } from "../../src/model/toml.js";

const KEY_A = "WE4+rOCI30T4/By6uBO1OiqOnWNTR2KJCMRhqpPXeGg=";
const KEY_B = "eJKFcOhsHVDEq2o1zvYjHtYZ6ZE4MgiEWGYtOdhTT3c=";
const PSK = "LZZXiED7kOCiHltaxaOagdPR87DTeiulwJnRdP2ahls=";

const node = (ll: string, port: number, key: string) =>
  `Address = [ "172.20.0.${ll.split(".")[3]}/24",]\nAllowedIPs = [ "${ll}/32",]\nLinkLayerAddress = [ "${ll}/16",]\nListenPort = ${port}\nPrivateKey = "${key}"\n`;
const BASE = `[Network]\nAddressPoolIPv4 = "172.20.0.0/24"\nVxlanID = 42\nVxlanMTU = 1500\nVxlanPort = 4789\n\n[PeerBlacklist]\nBlacklist = []\n\n[Node.a]\n${node("169.254.0.2", 51820, KEY_A)}\n[Node.b]\n${node("169.254.0.3", 51821, KEY_B)}`;

const doc = (text: string): TomlTable => parseToml(text, "t.conf");
const changes = (before: string | undefined, after: string) =>
  docChanges(before === undefined ? undefined : doc(before), doc(after), meshFromDoc("t", doc(after), { file: "t.conf" }));

describe("docChanges", () => {
  it("no change: nothing", () => {
    expect(changes(BASE, BASE)).toEqual({ added: [], removed: [], network: [], nodes: {}, blacklist: { added: [], removed: [] } });
  });

  it("a new file: every network key set, every node added with what was allocated, no private key", () => {
    const c = changes(undefined, BASE);
    expect(c.added.map((n) => [n.name, n.vtep, n.listenPort])).toEqual([
      ["a", "169.254.0.2", 51820],
      ["b", "169.254.0.3", 51821],
    ]);
    expect(c.network.map((k) => k.key)).toEqual(["AddressPoolIPv4", "VxlanID", "VxlanMTU", "VxlanPort"]);
    expect(JSON.stringify(c)).not.toContain(KEY_A);
  });

  it("set: before and after per key; private and pre-shared keys redacted", () => {
    const after = BASE.replace("VxlanPort = 4789", "VxlanPort = 4790")
      .replace("ListenPort = 51821", "ListenPort = 5000")
      .replace(KEY_B, KEY_A)
      .concat(`\n[PresharedKeys]\n"a,b" = "${PSK}"\n`);
    const c = changes(BASE, after);
    expect(c.network).toEqual([
      { key: "VxlanPort", before: 4789, after: 4790 },
      { key: "PresharedKeys.a,b", after: REDACTED },
    ]);
    expect(c.nodes).toEqual({
      b: [
        { key: "ListenPort", before: 51821, after: 5000 },
        { key: "PrivateKey", before: REDACTED, after: REDACTED },
      ],
    });
    expect(JSON.stringify(c)).not.toMatch(new RegExp(`${KEY_A.slice(0, 20)}|${KEY_B.slice(0, 20)}|${PSK.slice(0, 20)}`.replace(/\+/g, "\\+")));
  });

  it("del and blacklist: removed nodes, pairs added and removed", () => {
    const withPair = BASE.replace("Blacklist = []", 'Blacklist = [ [ "a", "b",],]');
    expect(changes(BASE, withPair).blacklist).toEqual({ added: [["a", "b"]], removed: [] });
    expect(changes(withPair, BASE).blacklist).toEqual({ added: [], removed: [["a", "b"]] });
    const withoutB = BASE.slice(0, BASE.indexOf("[Node.b]"));
    expect(changes(BASE, withoutB)).toMatchObject({ added: [], removed: ["b"], nodes: {} });
  });
});
