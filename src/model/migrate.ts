// `ciab migrate`: repairs, in a mesh document, the defects vwgen writes (or leaves behind) that ciab refuses to
// deploy, and says what it changed. Pure: randomness and key-file reading are parameters (EditEnv); the caller
// writes the document under the lock. Everything else in the document is left as it is, so the result still loads in
// vwgen, and a second run finds nothing to do.
import { domainToASCII } from "node:url";
import { isMetadataRange, isVtepRange } from "../ipam/alloc.js";
import { contains, parseAddr, parsePrefix } from "../ipam/ip.js";
import { keyShape } from "../keys/x25519.js";
import { type EditEnv, newVtep, usedSets } from "./edit.js";
import { NODE_NAME, parseEndpoint } from "./mesh.js";
import type { TomlTable } from "./toml.js";

export interface Change {
  /** The node the change is in; undefined for [Network], [PeerBlacklist], [PresharedKeys]. */
  node?: string;
  /** "[Node.a] LinkLayerAddress", "[Network] RouteReflectors", … */
  key: string;
  before: string;
  after: string;
  why: string;
}

const isTable = (v: unknown): v is TomlTable => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined);
const show = (v: unknown): string => (Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(", ")}]` : (JSON.stringify(v) ?? "(none)"));

/** A DNS label for a node name vwgen accepted: other characters become "-", non-ASCII letters punycode (as vwgen's zone). */
export function dnsLabel(name: string, taken: Set<string>): string {
  const dashed = name
    .normalize("NFC")
    .replace(/[^\p{L}\p{N}-]+/gu, "-")
    .replace(/^-+|-+$/g, "");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII test
  const ascii = /^[\u0000-\u007f]*$/.test(dashed) ? dashed : domainToASCII(dashed.toLowerCase()) || dashed.replace(/[^A-Za-z0-9-]/g, "");
  const base =
    ascii
      .replace(/[^A-Za-z0-9-]/g, "")
      .replace(/^-+|-+$/g, "")
      .slice(0, 63)
      .replace(/-+$/, "") || "node";
  let label = base;
  for (let i = 2; taken.has(label.toLowerCase()); i++) label = `${base.slice(0, 63 - String(i).length - 1)}-${i}`;
  return label;
}

/** Apply every repair to `doc`; returns the changes in file order (nothing when there is nothing to migrate). */
export function migrateDoc(doc: TomlTable, env: EditEnv): Change[] {
  const changes: Change[] = [];
  const network = isTable(doc.Network) ? doc.Network : undefined;
  const nodes = isTable(doc.Node) ? doc.Node : {};
  renameNodes(doc, nodes, network, changes);
  const names = new Set(Object.keys(nodes));
  const pools = [network?.AddressPoolIPv4, network?.AddressPoolIPv6].flatMap((p) => {
    try {
      return typeof p === "string" ? [parsePrefix(p)] : [];
    } catch {
      return [];
    }
  });
  const used = usedSets(doc);
  for (const name of Object.keys(nodes).sort()) {
    const t = nodes[name];
    if (!isTable(t)) continue;
    const at = `[Node.${name}]`;
    const record = (key: string, before: unknown, after: unknown, why: string) =>
      changes.push({ node: name, key: `${at} ${key}`, before: show(before), after: show(after), why });

    // The VTEP: never in the cloud metadata range (vwgen's random draw may land there), never outside vwgen's range.
    const ll = strings(t.LinkLayerAddress);
    const vtep = ll?.[0];
    if (ll && vtep !== undefined) {
      try {
        const p = parsePrefix(vtep, "LinkLayerAddress", false);
        if (p.family === 4 && !isVtepRange(Number(p.addr))) {
          const addr = newVtep(used, env.random);
          const old = vtep.split("/")[0];
          const nextLl = [`${addr}/${vtep.includes("/") ? vtep.split("/")[1] : "16"}`, ...ll.slice(1)];
          record(
            "LinkLayerAddress",
            ll,
            nextLl,
            isMetadataRange(Number(p.addr)) ? "VTEP in 169.254.169.0/24, the cloud metadata range" : "VTEP outside 169.254.1.0-169.254.254.255",
          );
          t.LinkLayerAddress = nextLl;
          const allowed = strings(t.AllowedIPs);
          if (allowed?.some((a) => a === `${old}/32` || a === old)) {
            const nextAllowed = allowed.map((a) => (a === `${old}/32` || a === old ? `${addr}/32` : a));
            record("AllowedIPs", allowed, nextAllowed, "the peers' route to the new VTEP");
            t.AllowedIPs = nextAllowed;
          }
        }
      } catch {
        /* not an address: validation reports it */
      }
    }

    // Prefix lengths: Address takes its pool's (vwgen allocates with it), else a host route; AllowedIPs a host route.
    for (const key of ["Address", "AllowedIPs"] as const) {
      const list = strings(t[key]);
      if (!list?.some((a) => !a.includes("/"))) continue;
      const next = list.map((a) => {
        if (a.includes("/")) return a;
        try {
          const { family, addr } = parseAddr(a.trim());
          const host = { family, addr, len: family === 4 ? 32 : 128 };
          const pool = key === "Address" ? pools.find((p) => p.family === family && contains(p, host)) : undefined;
          return `${a.trim()}/${pool ? pool.len : host.len}`;
        } catch {
          return a; // no address at all: left for the user (validation names it)
        }
      });
      if (next.some((a, i) => a !== list[i])) {
        record(
          key,
          list,
          next,
          key === "Address" ? "no prefix length (the pool's is added; /32 or /128 outside the pools)" : "no prefix length (wg(8) reads it as a host route)",
        );
        t[key] = next;
      }
    }

    // vwgen's mangled IPv6 endpoints: "[[v6]:p]:q" and "[v6]p".
    if (typeof t.Endpoint === "string") {
      try {
        const ep = parseEndpoint(t.Endpoint, "Endpoint");
        if (ep.repaired) {
          record("Endpoint", t.Endpoint, ep.text, "vwgen's mangled IPv6 endpoint");
          t.Endpoint = ep.text;
        }
      } catch {
        /* not repairable: validation names it */
      }
    }

    // vwgen's `set private-key <file path>` stored the path: take the key from the file when it holds one.
    if (typeof t.PrivateKey === "string" && keyShape(t.PrivateKey) !== undefined && env.readKeyFile) {
      let key: string | undefined;
      try {
        key = env.readKeyFile(t.PrivateKey.trim()).trim();
      } catch {
        key = undefined;
      }
      if (key !== undefined && keyShape(key) === undefined) {
        // Never the key itself in the report: the path, then "(the key read from it)".
        changes.push({
          node: name,
          key: `${at} PrivateKey`,
          before: show(t.PrivateKey),
          after: "(the key read from that file)",
          why: "vwgen stored the key file's path, not the key",
        });
        t.PrivateKey = key;
      }
    }
  }

  if (network) {
    // vwgen assigns IPv6 addresses to a VXLAN device below IPv6's 1280 bytes, where the kernel refuses them.
    if (typeof network.AddressPoolIPv6 === "string" && typeof network.VxlanMTU === "number" && network.VxlanMTU < 1280) {
      changes.push({
        key: "[Network] VxlanMTU",
        before: String(network.VxlanMTU),
        after: "1280",
        why: "below IPv6's minimum (RFC 8200 §5): the pool's IPv6 addresses never came up",
      });
      network.VxlanMTU = 1280;
    }
    const rr = strings(network.RouteReflectors);
    if (rr?.some((x) => !names.has(x))) {
      const next = rr.filter((x) => names.has(x));
      changes.push({ key: "[Network] RouteReflectors", before: show(rr), after: show(next), why: "names a deleted node (vwgen's del keeps ciab's keys)" });
      network.RouteReflectors = next;
    }
  }

  const bl = isTable(doc.PeerBlacklist) ? doc.PeerBlacklist : undefined;
  if (bl && Array.isArray(bl.Blacklist)) {
    const pairs = (bl.Blacklist as unknown[]).filter((p): p is string[] => strings(p)?.length === 2);
    const key = (p: string[]) => `${p[0]}>${p[1]}`;
    const have = new Set(pairs.map(key));
    const next: string[][] = [];
    for (const p of pairs) {
      const [a, b] = p as [string, string];
      if (!names.has(a) || !names.has(b) || a === b) {
        changes.push({
          key: "[PeerBlacklist] Blacklist",
          before: show(p),
          after: "(removed)",
          why: a === b ? "a node paired with itself" : "names a deleted node",
        });
        continue;
      }
      next.push(p);
      if (!have.has(`${b}>${a}`)) {
        have.add(`${b}>${a}`);
        next.push([b, a]);
        changes.push({
          key: "[PeerBlacklist] Blacklist",
          before: show(p),
          after: `${show(p)} and ${show([b, a])}`,
          why: "one-way entry: without it no tunnel comes up anyway",
        });
      }
    }
    if (next.length !== pairs.length || next.some((p, i) => key(p) !== key(pairs[i] as string[]))) {
      const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
      bl.Blacklist = next.sort((x, y) => cmp(x[0] as string, y[0] as string) || cmp(x[1] as string, y[1] as string));
    }
  }

  const psk = isTable(doc.PresharedKeys) ? doc.PresharedKeys : undefined;
  for (const k of Object.keys(psk ?? {})) {
    const parts = k.split(",");
    if (parts.length === 2 && parts.every((x) => names.has(x))) continue;
    changes.push({ key: `[PresharedKeys] "${k}"`, before: "(a pre-shared key)", after: "(removed)", why: "names a node that is not in the mesh" });
    delete (psk as TomlTable)[k];
  }
  return changes;
}

/** Node names that are no DNS label (`_gw`, `Node One`, `nöde`) get one; every reference follows. */
function renameNodes(doc: TomlTable, nodes: TomlTable, network: TomlTable | undefined, changes: Change[]): void {
  const taken = new Set(
    Object.keys(nodes)
      .filter((n) => NODE_NAME.test(n))
      .map((n) => n.toLowerCase()),
  );
  const renamed = new Map<string, string>();
  for (const name of Object.keys(nodes).sort()) {
    if (NODE_NAME.test(name)) continue;
    const label = dnsLabel(name, taken);
    taken.add(label.toLowerCase());
    renamed.set(name, label);
    changes.push({
      node: label,
      key: `[Node.${JSON.stringify(name)}]`,
      before: JSON.stringify(name),
      after: JSON.stringify(label),
      why: "a node name becomes a host name, zone record and routing identifier: it must be a DNS label",
    });
  }
  if (renamed.size === 0) return;
  const to = (n: string) => renamed.get(n) ?? n;
  for (const [from, label] of renamed) {
    nodes[label] = nodes[from] as TomlTable;
    delete nodes[from];
  }
  const rr = strings(network?.RouteReflectors);
  if (network && rr) network.RouteReflectors = rr.map(to);
  const bl = isTable(doc.PeerBlacklist) ? doc.PeerBlacklist : undefined;
  if (bl && Array.isArray(bl.Blacklist))
    bl.Blacklist = (bl.Blacklist as unknown[]).map((p) => (strings(p) ? (p as string[]).map(to) : p)) as TomlTable[keyof TomlTable];
  const psk = isTable(doc.PresharedKeys) ? doc.PresharedKeys : undefined;
  for (const k of Object.keys(psk ?? {})) {
    const next = k.split(",").map(to).join(",");
    if (next !== k && psk) {
      psk[next] = psk[k] as string;
      delete psk[k];
    }
  }
}
