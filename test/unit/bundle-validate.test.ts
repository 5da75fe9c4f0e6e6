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
// The wg-quick file is not read by `ciab up` any more (desired.json is): edits to it only break its hash.
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
});

/** Edit desired.json (and re-hash), as an attacker who can edit the bundle would. */
// biome-ignore lint/suspicious/noExplicitAny: the tests edit arbitrary JSON
type Doc = any;
const tamperDesired = (edit: (d: Doc) => void) =>
  tamper(fresh(), "desired.json", (t) => {
    const d = JSON.parse(t);
    edit(d);
    return JSON.stringify(d);
  });

describe("desired.json is checked against schema/desired-v1.json and the model's validators, naming the field", () => {
  const error = (files: Map<string, string>) => {
    try {
      desiredFromBundle("/b", files);
    } catch (e) {
      return e as { exitCode: number; message: string };
    }
    throw new Error("accepted");
  };
  it.each<[string, (d: Doc) => void, RegExp]>([
    [
      "listenPort 99999",
      (d) => {
        d.wireguard[0].listenPort = 99999;
      },
      /desired\.json does not match schema\/desired-v1\.json: wireguard\[0\]\.listenPort must be <= 65535/,
    ],
    [
      "a garbage peer key",
      (d) => {
        d.wireguard[0].peers[0].publicKey = "garbage";
      },
      /wireguard\[0\]\.peers\[0\]\.publicKey must match pattern/,
    ],
    [
      "an all-zero peer key",
      (d) => {
        d.wireguard[0].peers[0].publicKey = Buffer.alloc(32).toString("base64");
      },
      /wireguard\[0\]\.peers\[0\]\.publicKey is all zeros or another low-order point/,
    ],
    [
      "an unreachable endpoint",
      (d) => {
        d.wireguard[0].peers[0].endpoint = "0.0.0.0:51820";
      },
      /wireguard\[0\]\.peers\[0\]\.endpoint: 0\.0\.0\.0 is in 0\.0\.0\.0\/8/,
    ],
    [
      "an AllowedIPs entry that is not a prefix",
      (d) => {
        d.wireguard[0].peers[0].allowedIPs[0] = "x; reboot";
      },
      /wireguard\[0\]\.peers\[0\]\.allowedIPs\[0\] must match pattern/,
    ],
    [
      "a prefix of the right shape that is not one",
      (d) => {
        d.vxlan[0].addresses[0] = "999.1.1.1/24";
      },
      /vxlan\[0\]\.addresses: "999\.1\.1\.1\/24" is not an address\/length prefix/,
    ],
    [
      "a VNI out of range",
      (d) => {
        d.vxlan[0].vni = 99999999;
      },
      /vxlan\[0\]\.vni must be <= 16777215/,
    ],
    [
      "a VXLAN peer VTEP that is not an address",
      (d) => {
        d.vxlan[0].peers[0].vtep = "$(reboot)";
      },
      /vxlan\[0\]\.peers\[0\]\.vtep must match pattern/,
    ],
    [
      "an address of the right shape that is not one",
      (d) => {
        d.vxlan[0].peers[0].ips[0] = "1.2.3.999";
      },
      /vxlan\[0\]\.peers\[0\]\.ips: "1\.2\.3\.999" is not an IP address/,
    ],
    [
      "keepalive 0 spelled out (absent means off)",
      (d) => {
        d.wireguard[0].peers[0].keepalive = 0;
      },
      /wireguard\[0\]\.peers\[0\]\.keepalive must be >= 1/,
    ],
    ["a missing field", (d) => delete d.vxlan[0].mac, /vxlan\[0\]\.mac: missing/],
    [
      "an unknown field",
      (d) => {
        d.vxlan[0].learning = true;
      },
      /vxlan\[0\]: unknown field "learning"/,
    ],
    [
      "a file from outside the bundle",
      (d) => {
        d.files[0].source = "../../etc/shadow";
      },
      /files\[0\]\.source must match pattern/,
    ],
    [
      "a file installed to a relative path",
      (d) => {
        d.files[0].path = "etc/x";
      },
      /files\[0\]\.path must match pattern/,
    ],
    [
      "a VXLAN device over no WireGuard interface",
      (d) => {
        d.vxlan[0].underlay = "other";
      },
      /vxlan\[0\]\.underlay: other is not one of the WireGuard interfaces/,
    ],
    [
      "two devices of one name",
      (d) => {
        d.vxlan.push({ ...d.vxlan[0] });
      },
      /interface name vrr3 appears twice/,
    ],
    [
      "a private key in desired.json",
      (d) => {
        d.wireguard[0].privateKey = { inline: me.privateKey };
      },
      /wireguard\[0\]\.privateKey: unknown field "inline"/,
    ],
    [
      "another version",
      (d) => {
        d.version = 2;
      },
      /desired\.json: version 2 is not 1 \(rendered by another ciab version\)/,
    ],
  ])("%s", (_name, edit, message) => {
    const files = tamperDesired(edit);
    refuses(files, message);
    expect(error(files).exitCode).toBe(4); // README "Exit codes": invalid
  });
  it("desired.json that is not JSON", () =>
    refuses(
      tamper(fresh(), "desired.json", (t) => t.slice(0, 20)),
      /desired\.json is not JSON/,
    ));
  it("no desired.json (a bundle of an older ciab)", () => {
    const files = fresh();
    files.delete("desired.json");
    const m = JSON.parse(files.get("manifest.json") as string);
    m.files = m.files.filter((f: { path: string }) => f.path !== "desired.json");
    files.set("manifest.json", JSON.stringify(m));
    refuses(files, /desired\.json \(the desired state\) is missing/);
  });
  it("the secrets file: a bad private key is named, never shown", () => {
    const path = `wireguard/${mesh.name}.secrets.json`;
    refuses(
      tamper(fresh(), path, (t) => t.replace(/("privateKey": "[^"]*)="/, '$1"')),
      /wireguard\/rr3\.secrets\.json interfaces\.rr3\.privateKey is not a valid WireGuard key \(got 43 characters, without the '=' padding/,
    );
    refuses(
      tamper(fresh(), path, (t) => t.slice(0, 40)),
      /wireguard\/rr3\.secrets\.json is not JSON/,
    );
  });
  it("desired.json holds no secret; the secrets file is 0600", () => {
    const files = renderBundle(topology(mesh).node(me), "x");
    const desired = files.find((f) => f.path === "desired.json")!;
    for (const s of secrets) expect(desired.content).not.toContain(s);
    expect(files.find((f) => f.path.endsWith(".secrets.json"))!.mode).toBe(0o600);
  });
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
