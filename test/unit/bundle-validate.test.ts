// Bundles are validated, not only hashed (issue 9, Build 6): the SHA-256s in manifest.json are not authenticated,
// so a tampered bundle with matching hashes must still be refused for every value `ciab up` would act on, without
// repeating a key; and dry-run output quotes every argument.

import { describe, expect, it } from "vitest";
import { topology } from "../../src/model/topology.js";
import { desiredFromBundle } from "../../src/plan/bundle.js";
import { commitStaged, formatCommand, installFile, syncconfCommand } from "../../src/plan/commands.js";
import { sha256Hex } from "../../src/plan/plan.js";
import { renderBundle } from "../../src/render/bundle.js";
import { loadFixture } from "../helpers/meshes.js";

const mesh = loadFixture("rr3");
const me = mesh.nodes[0]!;
const WG = `wireguard/${mesh.name}.conf`;
const fresh = () => new Map(renderBundle(topology(mesh).node(me), "x").map((f) => [f.path, f.content]));

/** Change a file and make the manifest agree with it, as an attacker who can edit both would. */
function tamper(files: Map<string, string>, path: string, edit: (t: string) => string, manifest?: (m: Record<string, unknown>) => void) {
  files.set(path, edit(files.get(path) as string));
  const m = JSON.parse(files.get("manifest.json") as string);
  for (const f of m.files) f.sha256 = sha256Hex(files.get(f.path) ?? "");
  manifest?.(m);
  files.set("manifest.json", JSON.stringify(m));
  return files;
}

const secrets = [me.privateKey as string, ...mesh.nodes.map((n) => n.privateKey as string), ...mesh.psk.values()].filter(Boolean);
const refuses = (files: Map<string, string>, message: RegExp) => {
  let text = "";
  try {
    desiredFromBundle("/b", files);
  } catch (e) {
    text = `${(e as Error).message}\n${(e as { hint?: string }).hint ?? ""}`;
  }
  expect(text).toMatch(message);
  for (const s of secrets) for (let i = 0; i + 10 <= s.length; i += 5) expect(text).not.toContain(s.slice(i, i + 10));
};

describe("a bundle whose hashes match is still validated", () => {
  it("the untouched bundle loads", () => expect(desiredFromBundle("/b", fresh()).network).toBe(mesh.name));
  it("manifest network name with a shell metacharacter", () =>
    refuses(
      tamper(
        fresh(),
        WG,
        (t) => t,
        (m) => {
          m.network = "evil;touch x";
        },
      ),
      /network name "evil;touch x" is not usable/,
    ));
  it("manifest network name of 21 bytes", () =>
    refuses(
      tamper(
        fresh(),
        WG,
        (t) => t,
        (m) => {
          m.network = "n".repeat(21);
        },
      ),
      /network name "n{21}" is not usable: 21 bytes/,
    ));
  it("manifest node name that is not a DNS label", () =>
    refuses(
      tamper(
        fresh(),
        WG,
        (t) => t,
        (m) => {
          m.node = "../x";
        },
      ),
      /node name "\.\.\/x" is not a DNS label/,
    ));
  it("a listed file outside the bundle", () =>
    refuses(
      tamper(
        fresh(),
        WG,
        (t) => t,
        (m) => {
          (m.files as { path: string }[]).push({ path: "../../etc/passwd" });
        },
      ),
      /not a relative path inside the bundle/,
    ));
  it("ListenPort = 99999", () =>
    refuses(
      tamper(fresh(), WG, (t) => t.replace(/^ListenPort = \d+$/m, "ListenPort = 99999")),
      /ListenPort "99999" is not an integer from 0 to 65535/,
    ));
  it("a garbage peer key", () =>
    refuses(
      tamper(fresh(), WG, (t) => t.replace(/^PublicKey = .*$/m, "PublicKey = garbage")),
      /peer #1 PublicKey is not a valid WireGuard key \(got 7 characters/,
    ));
  it("an all-zero peer key", () =>
    refuses(
      tamper(fresh(), WG, (t) => t.replace(/^PublicKey = .*$/m, `PublicKey = ${Buffer.alloc(32).toString("base64")}`)),
      /peer #1 PublicKey is all zeros/,
    ));
  it("a malformed PrivateKey line: the key name, never the line", () => {
    refuses(
      tamper(fresh(), WG, (t) => t.replace(/^PrivateKey = (.*)$/m, "PrivateKey $1")),
      /wireguard\/rr3\.conf:\d+: cannot parse this line/,
    );
    refuses(
      tamper(fresh(), WG, (t) => t.replace(/^PrivateKey = (.*)=$/m, "PrivateKey = $1")),
      /\[Interface\] PrivateKey is not a valid WireGuard key \(got 43 characters, without the '=' padding/,
    );
  });
  it("a peer endpoint nobody can reach", () =>
    refuses(
      tamper(fresh(), WG, (t) => t.replace(/^Endpoint = .*$/m, "Endpoint = 0.0.0.0:51820")),
      /peer #1 Endpoint: 0\.0\.0\.0 is in 0\.0\.0\.0\/8/,
    ));
  it("an AllowedIPs entry that is not a prefix", () =>
    refuses(
      tamper(fresh(), WG, (t) => t.replace(/^AllowedIPs = /m, "AllowedIPs = x; ")),
      /peer #1 AllowedIPs: "x; [^"]*" is not an address\/length prefix/,
    ));
  it("a VXLAN id out of range", () =>
    refuses(
      tamper(fresh(), WG, (t) => t.replace(/ id \d+ /, " id 99999999 ")),
      /the VXLAN id "99999999" is not an integer from 1 to 16777215/,
    ));
  it("an ip -batch address that is not a prefix", () =>
    refuses(
      tamper(fresh(), `wireguard/${mesh.name}.vxlan-ip`, (t) => t.replace(/^address replace \S+/m, "address replace 1.2.3.4/24;reboot")),
      /vxlan-ip address: .* is not an address\/length prefix/,
    ));
  it("an FDB destination that is not an address", () =>
    refuses(
      tamper(fresh(), `wireguard/${mesh.name}.vxlan-fdb`, (t) => t.replace(/dst \S+/, "dst $(reboot)")),
      /vxlan-fdb dst: "\$\(reboot\)" is not an IP address/,
    ));
});

describe("dry-run output quotes every argument", () => {
  it("paths with spaces or metacharacters are shell-quoted", () => {
    expect(formatCommand(installFile({ path: "/etc/wire guard/x;y.conf", content: "k", mode: 0o600 }))).toMatch(
      /^install '\/etc\/wire guard\/x;y\.conf' \(0600\)/,
    );
    expect(formatCommand(commitStaged("/tmp/a b", "/etc/frr/frr.conf"))).toBe("mv '/tmp/a b' /etc/frr/frr.conf (host's original kept as .ciab-orig)");
    const wg = { ifname: "x y", listenPort: 1, fwMark: 0, publicKey: "", privateKey: { file: "/etc/wireguard/it's.key" }, mtu: 1420, addresses: [], peers: [] };
    expect(formatCommand(syncconfCommand(wg, "0 peers"))).toBe(`wg syncconf 'x y' (private key from '/etc/wireguard/it'\\''s.key'; 0 peers)`);
    expect(formatCommand({ argv: ["ip", "link", "set", "a;b", "up"] })).toBe("ip link set 'a;b' up");
  });
});
