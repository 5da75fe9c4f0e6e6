// The planner: desired host state against observed host state, giving the actions that take one to the other, in
// order, each with the exact commands and a reason a person can read. Pure; no I/O, no clock (the observation
// carries its time). Equal states give no action at all, so a second `ciab up` does nothing.
// Principles (squat/kilo's reconciler): diff before writing; change only what differs; never restart what can be
// changed in place. WireGuard peers change through one `wg syncconf` (sessions of unchanged peers survive); a VXLAN
// device is recreated only when its VNI, port or learning mode differ (the kernel cannot change those in place);
// routing configuration goes through the daemon's reload path, after its own checker accepted it.
import { createHash } from "node:crypto";
import { formatAddr, parseAddr } from "../ipam/ip.js";
import { waitsForPeer } from "../keys/contact.js";
import { CiabError } from "../model/errors.js";
import { fdbViaArgs, vxlanCreateArgv } from "../state/desired.js";
import { commitStaged, installFile, shellQuote, stageConfig, syncconfCommand } from "./commands.js";
import type {
  Action,
  Command,
  DesiredFile,
  DesiredHost,
  DesiredPeer,
  DesiredRoutingInstance,
  DesiredVxlan,
  DesiredWireguard,
  ObservedAddress,
  ObservedFdb,
  ObservedHost,
  ObservedLink,
  ObservedWgPeer,
  WgBackendCommands,
} from "./types.js";
import { floodEntries, neighbourEntries, unicastEntries } from "./vxlan-entries.js";

export interface PlanOptions {
  /** How to create a WireGuard interface here (adapters/wireguard.ts); needed only when it is missing. */
  backend?: WgBackendCommands;
  /**
   * A peer whose current endpoint differs from the configured one but that completed a handshake this recently
   * (seconds) has roamed (NAT rebinding, a moved host): keep it rather than point it back. Default 180 s
   * (REJECT_AFTER_TIME: a session older than that is dead anyway).
   */
  roamGraceSeconds?: number;
  /**
   * Keep roamed endpoints also when the configuration changed (the agent: a published endpoint is a hint, the
   * address WireGuard authenticated a handshake from is a fact; issue 13). Without it, a changed wg-quick file
   * points every peer at its configured endpoint, as bin/ciab-up's sync of the file does.
   */
  keepRoamed?: boolean;
  /** How to remove a stale WireGuard interface (default `ip link del`, right for the kernel implementation). */
  destroyWg?: DestroyWg;
}

export const FRR_INIT = "/usr/lib/frr/frrinit.sh";
export const FRR_RELOAD = "/usr/lib/frr/frr-reload.py";
export const FRR_CONF = "/etc/frr/frr.conf";
export const FRR_DAEMONS = "/etc/frr/daemons";
export const VTYSH_CONF = "/etc/frr/vtysh.conf";
export const BIRD_CONF = "/etc/bird/bird.conf";
export const BIRD_CTL = "/run/bird/bird.ctl";
export const BIRD_PID = "/run/bird/bird.pid";
const ZERO_MAC = "00:00:00:00:00:00";

const act = (kind: Action["kind"], subject: string, reason: string, ...commands: Command[]): Action => ({ kind, subject, reason, commands });
const cmd = (...argv: string[]): Command => ({ argv });
const isLinkLocal6 = (cidr: string): boolean => /^fe80:/i.test(cidr);

/** An address in one canonical form (IPv6 compressed, lower case), so `ip`'s output and the mesh's compare. */
const normIp = (a: string): string => {
  try {
    const p = parseAddr(a);
    return formatAddr(p.family, p.addr);
  } catch {
    return a.toLowerCase();
  }
};
/** Addresses compare by address and length (host bits kept: "10.0.0.1/24"). */
const normCidr = (c: string): string => {
  const [a, len] = c.split("/");
  return len === undefined ? normIp(a as string) : `${normIp(a as string)}/${len}`;
};

/** Shorten a key for messages (never a private key: only public keys reach here). */
const shortKey = (k: string): string => `${k.slice(0, 8)}…`;

export function plan(d: DesiredHost, o: ObservedHost, opts: PlanOptions = {}): Action[] {
  for (const r of d.routing) {
    if (r.vrf !== undefined)
      throw new CiabError("invalid", `routing instance ${r.name}: VRF ${r.vrf} is not supported yet (only the host's default VRF)`, {
        hint: "render the bundle with this version of ciab",
      });
  }
  const out: Action[] = [];
  const mark = ownerMark(d.network);
  // The guard first: forwarding, WireGuard and VXLAN come up only behind it (no window in which the underlay
  // reaches the containers or the VXLAN socket).
  nft(d, o, out);
  sysctls(d, o, out);
  files(d.files, o, out);
  // Interfaces ciab made for this network that the desired state no longer lists go before new ones come (a
  // stale VXLAN device may hold the VNI and port a new one needs).
  stale(d, o, opts, out);
  const fresh = d.wireguard.filter((w) => !o.links.some((l) => l.name === w.ifname));
  for (const w of d.wireguard) wireguard(w, o, opts, mark, configChanged(d, w, o), out);
  for (const x of d.vxlan) vxlan(x, o, mark, out);
  for (const w of fresh) firstContactKick(w, out);
  for (const r of d.routing) routing(r, o, out);
  for (const w of fresh) firstContactEndpoints(w, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------- ownership

/** The alias (ifalias) ciab gives every interface it creates for a network: what `down` and the planner own. */
export const ownerMark = (network: string): string => `ciab:${network}`;

const WG_KINDS = new Set(["wireguard", "tun"]);

/**
 * The interfaces of the network that ciab owns: those carrying its mark, and those of a desired name and the
 * right kind (brought up before ciab marked its interfaces). Sorted by name.
 */
export function ownedLinks(d: DesiredHost, o: ObservedHost): ObservedLink[] {
  const mark = ownerMark(d.network);
  const wg = new Set(d.wireguard.map((w) => w.ifname));
  const vx = new Set(d.vxlan.map((x) => x.ifname));
  return o.links
    .filter(
      (l) =>
        (l.alias === mark && (WG_KINDS.has(l.kind) || l.kind === "vxlan")) ||
        (wg.has(l.name) && o.wireguard.some((w) => w.ifname === l.name)) ||
        (vx.has(l.name) && l.kind === "vxlan"),
    )
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** How to remove a WireGuard interface of a link kind ("wireguard": kernel, "tun": wireguard-go). */
export type DestroyWg = (ifname: string, kind: string) => Command[];
const ipLinkDel: DestroyWg = (ifname) => [cmd("ip", "link", "del", "dev", ifname)];

function stale(d: DesiredHost, o: ObservedHost, opts: PlanOptions, out: Action[]): void {
  const want = new Set([...d.wireguard.map((w) => w.ifname), ...d.vxlan.map((x) => x.ifname)]);
  // VXLAN devices first: one bound to a WireGuard interface would vanish under it.
  const gone = ownedLinks(d, o).filter((l) => !want.has(l.name));
  for (const l of [...gone.filter((x) => x.kind === "vxlan"), ...gone.filter((x) => x.kind !== "vxlan")]) {
    if (l.kind === "vxlan")
      out.push(
        act(
          "link",
          l.name,
          `VXLAN device ${l.name} (vni ${l.vxlan?.id ?? "?"}) is ciab's but no longer desired: stale`,
          cmd("ip", "link", "del", "dev", l.name),
        ),
      );
    else
      out.push(act("link", l.name, `WireGuard interface ${l.name} is ciab's but no longer desired: stale`, ...(opts.destroyWg ?? ipLinkDel)(l.name, l.kind)));
  }
}

/** Mark an interface as ciab's (after creating it, or when an older ciab created it unmarked). */
const markCmd = (ifname: string, mark: string): Command => cmd("ip", "link", "set", "dev", ifname, "alias", mark);

// ------------------------------------------------------------------------------------------------ first contact
// As the bundle's bin/ciab-up does (render/scripts.ts), so both leave the same host: on a new interface, the peers
// whose key sorts first (keys/contact.ts) start the handshake; they get their endpoints once everything else is up.

/** Peers that make first contact with this node: configured without their endpoint until the end of bring-up. */
export const waitingPeers = (w: DesiredWireguard): DesiredPeer[] => {
  const self = w.publicKey;
  return self === undefined ? [] : w.peers.filter((p) => p.endpoint !== undefined && waitsForPeer(self, p.publicKey));
};

function firstContactKick(w: DesiredWireguard, out: Action[]): void {
  const wait = new Set(waitingPeers(w));
  const first = w.peers.filter((p) => !wait.has(p));
  const vteps = first.map((p) => p.allowedIPs[0]?.split("/")[0]).filter((v): v is string => v !== undefined);
  if (vteps.length === 0) return;
  out.push(
    act("wg-contact", w.ifname, `first contact: one packet to the VTEP of ${first.map((p) => p.name).join(", ")} starts their handshakes now`, {
      argv: ["sh", "-c", 'command -v ping >/dev/null 2>&1 || exit 0; for v; do ping -n -q -c 1 -W 1 "$v" >/dev/null 2>&1 & done', "ciab-wg-contact", ...vteps],
      display: `ping -c 1 ${vteps.join(" ")} (in the background)`,
    }),
  );
}

function firstContactEndpoints(w: DesiredWireguard, out: Action[]): void {
  const wait = waitingPeers(w);
  if (wait.length === 0) return;
  out.push(
    act(
      "wg-endpoint",
      w.ifname,
      `first contact is over: ${wait.map((p) => p.name).join(", ")} get their endpoints`,
      cmd("wg", "set", w.ifname, ...wait.flatMap((p) => ["peer", p.publicKey, "endpoint", p.endpoint as string])),
    ),
  );
}

function sysctls(d: DesiredHost, o: ObservedHost, out: Action[]): void {
  for (const { key, value } of d.sysctls) {
    const have = o.sysctls[key];
    if (have?.trim() !== value)
      out.push(
        act(
          "sysctl",
          key,
          `${key.replace(/\//g, ".")} ${have === undefined ? "is missing" : `${have.trim()} != ${value}`}`,
          cmd("sysctl", "-q", "-w", `${key}=${value}`),
        ),
      );
  }
}

function fileDiff(f: DesiredFile, o: ObservedHost): string | undefined {
  const have = o.files[f.path];
  if (!have) return `${f.path} missing`;
  if (f.ifMissing) return undefined;
  if (have.sha256 !== sha256Hex(f.content)) return `${f.path} differs${have.text !== undefined && !f.secret ? ` (${lineDiff(have.text, f.content)})` : ""}`;
  if (have.mode !== f.mode) return `${f.path} mode 0${have.mode.toString(8)} != 0${f.mode.toString(8)}`;
  return undefined;
}

function files(list: DesiredFile[], o: ObservedHost, out: Action[]): void {
  for (const f of list) {
    const why = fileDiff(f, o);
    if (why) out.push(act("file", f.path, why, installFile(f)));
  }
}

/** "+3 -1 lines": what changes, for messages. */
export function lineDiff(before: string, after: string): string {
  const count = (t: string) => {
    const m = new Map<string, number>();
    for (const l of t.split("\n")) m.set(l, (m.get(l) ?? 0) + 1);
    return m;
  };
  const a = count(before);
  const b = count(after);
  let added = 0;
  let removed = 0;
  for (const [l, n] of b) added += Math.max(0, n - (a.get(l) ?? 0));
  for (const [l, n] of a) removed += Math.max(0, n - (b.get(l) ?? 0));
  return `+${added} -${removed} lines`;
}

/** Lines of `before` that `after` no longer has (a reload without frr-reload.py would keep them active). */
export function removedLines(before: string, after: string): string[] {
  const keep = new Set(after.split("\n").map((l) => l.trim()));
  return before
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && l !== "!" && !l.startsWith("!") && !keep.has(l));
}

// -------------------------------------------------------------------------------------------------- WireGuard

/**
 * What differs between the desired peers and the interface's, and the peers that roamed: a current endpoint other
 * than the configured one, with a handshake within `grace` seconds (a negative grace: none roamed). They keep the
 * endpoint WireGuard learned, in the reasons and in the sync (which would otherwise point them back).
 */
function peerDiffs(w: DesiredWireguard, observed: ObservedWgPeer[], now: number, grace: number): { reasons: string[]; roamed: Map<string, string> } {
  const reasons: string[] = [];
  const roamed = new Map<string, string>();
  const have = new Map(observed.map((p) => [p.publicKey, p]));
  const want = new Set(w.peers.map((p) => p.publicKey));
  for (const p of w.peers) {
    const h = have.get(p.publicKey);
    if (!h) {
      reasons.push(`peer ${p.name} missing`);
      continue;
    }
    const allowed = [...p.allowedIPs].map(normCidr).sort().join(",");
    const hAllowed = [...h.allowedIPs].map(normCidr).sort().join(",");
    if (allowed !== hAllowed) reasons.push(`peer ${p.name} allowed-ips ${hAllowed || "(none)"} != ${allowed}`);
    if (p.endpoint && h.endpoint !== p.endpoint && isLiteral(p.endpoint)) {
      const age = h.latestHandshake > 0 ? now - h.latestHandshake : Number.POSITIVE_INFINITY;
      // A fresh handshake from another address means the peer roamed; pointing it back would break it.
      if (h.endpoint && age <= grace) roamed.set(p.publicKey, h.endpoint);
      else reasons.push(`peer ${p.name} endpoint ${h.endpoint ?? "(none)"} != ${p.endpoint}`);
    }
    if (p.endpoint && !h.endpoint && !isLiteral(p.endpoint)) reasons.push(`peer ${p.name} endpoint (none) != ${p.endpoint}`);
    if (h.keepalive !== p.keepalive) reasons.push(`peer ${p.name} persistent-keepalive ${h.keepalive || "off"} != ${p.keepalive || "off"}`);
    if (Boolean(p.presharedKey) !== h.presharedKey) reasons.push(`peer ${p.name} pre-shared key ${p.presharedKey ? "missing" : "set but not wanted"}`);
    else if (p.presharedKey && h.pskSha256 !== undefined && h.pskSha256 !== sha256Hex(p.presharedKey)) reasons.push(`peer ${p.name} pre-shared key differs`);
  }
  for (const h of observed) if (!want.has(h.publicKey)) reasons.push(`peer ${shortKey(h.publicKey)} stale (not a node of the mesh)`);
  return { reasons, roamed };
}

/** An endpoint with an IP literal (a host name resolves to an address wg shows instead, so it cannot compare). */
const isLiteral = (ep: string): boolean => /^\[[0-9a-fA-F:.]+\]:\d+$/.test(ep) || /^\d+\.\d+\.\d+\.\d+:\d+$/.test(ep);

/**
 * The interface's installed wg-quick file differs from the bundle's: its configuration changed (an endpoint, say).
 * Then configured endpoints win over roamed ones, as in bin/ciab-up, which syncs the file whenever it changed.
 */
const configChanged = (d: DesiredHost, w: DesiredWireguard, o: ObservedHost): boolean => {
  const f = d.files.find((x) => x.path === `/etc/wireguard/${w.ifname}.conf`);
  return f !== undefined && fileDiff(f, o) !== undefined;
};

function wireguard(wg: DesiredWireguard, o: ObservedHost, opts: PlanOptions, mark: string, changed: boolean, out: Action[]): void {
  const link = o.links.find((l) => l.name === wg.ifname);
  const created = !link;
  const obs = o.wireguard.find((w) => w.ifname === wg.ifname);
  if (link && !obs) {
    throw new CiabError("conflict", `interface ${wg.ifname} exists (${link.kind || "no kind"}) but is not a WireGuard interface`, {
      hint: `ciab leaves interfaces it did not create alone; rename or remove ${wg.ifname}, or use another network name`,
    });
  }
  if (created) {
    const backend = opts.backend;
    if (!backend) {
      throw new CiabError("notFound", `cannot create WireGuard interface ${wg.ifname}: the kernel has no WireGuard module and wireguard-go is not installed`, {
        hint: "install wireguard-go (apt-get install wireguard-go), or a kernel with WireGuard (Linux >= 5.6)",
      });
    }
    out.push(
      act(
        "wg-create",
        wg.ifname,
        `WireGuard interface ${wg.ifname} missing (${backend.kind} implementation)`,
        ...backend.create(wg.ifname),
        markCmd(wg.ifname, mark),
      ),
    );
  } else if (link.alias !== mark) out.push(act("link", wg.ifname, `${wg.ifname} is not marked as ciab's (alias ${mark})`, markCmd(wg.ifname, mark)));
  const reasons: string[] = [];
  let roamed = new Map<string, string>();
  if (created || !obs) {
    reasons.push(`new interface: listen-port ${wg.listenPort}, ${wg.peers.length} peer(s)`);
  } else {
    if (wg.publicKey !== undefined && obs.publicKey !== wg.publicKey)
      reasons.push(obs.publicKey ? "private key differs (public key changed)" : "private key not set");
    if (wg.publicKey === undefined && obs.publicKey === undefined) reasons.push("private key not set");
    if (obs.listenPort !== wg.listenPort) reasons.push(`listen-port ${obs.listenPort} != ${wg.listenPort}`);
    if (obs.fwMark !== wg.fwMark) reasons.push(`fwmark ${obs.fwMark || "off"} != ${wg.fwMark || "off"}`);
    const grace = changed && !opts.keepRoamed ? -1 : (opts.roamGraceSeconds ?? 180);
    const diff = peerDiffs(wg, obs.peers, o.now, grace);
    reasons.push(...diff.reasons);
    roamed = diff.roamed;
  }
  // A new interface starts without the endpoints of the peers that make first contact (they come last, see plan()).
  const wait = new Set(created ? waitingPeers(wg) : []);
  const endpointOf = (p: DesiredWireguard["peers"][number]) => (wait.has(p) ? undefined : (roamed.get(p.publicKey) ?? p.endpoint));
  const sync = wait.size || roamed.size ? { ...wg, peers: wg.peers.map((p) => ({ ...p, endpoint: endpointOf(p) })) } : wg;
  if (roamed.size && reasons.length) reasons.push(`${roamed.size} roamed endpoint(s) kept`);
  if (wait.size) reasons.push(`${wait.size} endpoint(s) set after first contact`);
  if (reasons.length) out.push(act("wg-sync", wg.ifname, reasons.join("; "), syncconfCommand(sync, `${wg.peers.length} peer(s)`)));

  if (!created && link && link.mtu !== wg.mtu)
    out.push(act("link", wg.ifname, `${wg.ifname} mtu ${link.mtu} != ${wg.mtu}`, cmd("ip", "link", "set", "dev", wg.ifname, "mtu", String(wg.mtu))));
  if (created) out.push(act("link", wg.ifname, `new ${wg.ifname}: mtu ${wg.mtu}`, cmd("ip", "link", "set", "dev", wg.ifname, "mtu", String(wg.mtu))));
  addresses(wg.ifname, wg.addresses, created ? [] : o.addresses, out);
  if (created || !link?.up) out.push(act("link", wg.ifname, `${wg.ifname} is down`, cmd("ip", "link", "set", "dev", wg.ifname, "up")));
}

function addresses(dev: string, want: string[], observed: ObservedAddress[], out: Action[]): void {
  const have = new Set(observed.filter((a) => a.dev === dev).map((a) => normCidr(a.cidr)));
  const wanted = new Set(want.map(normCidr));
  for (const a of want)
    if (!have.has(normCidr(a))) out.push(act("address", dev, `address ${a} missing on ${dev}`, cmd("ip", "address", "replace", a, "dev", dev)));
  for (const a of observed) {
    // IPv6 link-local addresses are the kernel's own (one per interface), not the mesh's.
    if (a.dev === dev && !wanted.has(normCidr(a.cidr)) && !isLinkLocal6(a.cidr)) {
      out.push(act("address", dev, `address ${a.cidr} on ${dev} stale (not in the mesh)`, cmd("ip", "address", "del", a.cidr, "dev", dev)));
    }
  }
}

// ------------------------------------------------------------------------------------------------------ VXLAN

function vxlan(vx: DesiredVxlan, o: ObservedHost, mark: string, out: Action[]): void {
  const link = o.links.find((l) => l.name === vx.ifname);
  let fresh = !link;
  if (link && link.kind !== "vxlan") {
    throw new CiabError("conflict", `interface ${vx.ifname} exists (${link.kind || "no kind"}) but is not a VXLAN device`, {
      hint: `ciab leaves interfaces it did not create alone; rename or remove ${vx.ifname}, or use another network name`,
    });
  }
  if (!link) {
    out.push(act("vxlan-create", vx.ifname, `VXLAN device ${vx.ifname} missing`, cmd(...vxlanCreateArgv(vx)), markCmd(vx.ifname, mark)));
  } else {
    const why: string[] = [];
    const info = link.vxlan;
    if (!info) why.push("its VXLAN parameters are unreadable");
    else {
      if (info.id !== vx.vni) why.push(`vni ${info.id} != ${vx.vni}`);
      if (info.port !== vx.port) why.push(`port ${info.port} != ${vx.port}`);
      if (info.learning) why.push("learning is on (ciab's FDB is authoritative: nolearning)");
      const local = info.local ? normIp(info.local) : undefined;
      const want = vx.local ? normIp(vx.local) : undefined;
      if (local !== want) why.push(want ? `local ${local ?? "unset"} != ${want}` : `bound to local ${local}`);
    }
    if (why.length) {
      // The kernel cannot change a VXLAN device's VNI or port in place: delete and create, which drops its
      // addresses, neighbours and forwarding entries; they are all re-added below.
      out.push(
        act(
          "vxlan-create",
          vx.ifname,
          `VXLAN ${vx.ifname} ${why.join(", ")}: recreate (addresses, neighbours and FDB are re-added)`,
          cmd("ip", "link", "del", "dev", vx.ifname),
          cmd(...vxlanCreateArgv(vx)),
          markCmd(vx.ifname, mark),
        ),
      );
      fresh = true;
    } else {
      if (link.mtu !== vx.mtu)
        out.push(act("link", vx.ifname, `vxlan mtu ${link.mtu} != ${vx.mtu}`, cmd("ip", "link", "set", "dev", vx.ifname, "mtu", String(vx.mtu))));
      if (link.mac && link.mac.toLowerCase() !== vx.mac.toLowerCase())
        out.push(act("link", vx.ifname, `vxlan mac ${link.mac} != ${vx.mac}`, cmd("ip", "link", "set", "dev", vx.ifname, "address", vx.mac)));
      if (link.alias !== mark) out.push(act("link", vx.ifname, `${vx.ifname} is not marked as ciab's (alias ${mark})`, markCmd(vx.ifname, mark)));
    }
  }
  // ICMP redirects would tell a node to skip the relay of a blacklisted pair (render/wireguard.ts).
  for (const { key, value } of vxlanSysctls(vx.ifname)) {
    const have = fresh ? undefined : o.sysctls[key];
    if (have?.trim() !== value)
      out.push(
        act(
          "sysctl",
          key,
          `${key.replace(/\//g, ".")} ${fresh ? "on the new device" : have === undefined ? "is missing" : `${have.trim()} != ${value}`}`,
          cmd("sysctl", "-q", "-w", `${key}=${value}`),
        ),
      );
  }
  addresses(vx.ifname, vx.addresses, fresh ? [] : o.addresses, out);
  if (fresh || !link?.up) out.push(act("link", vx.ifname, `${vx.ifname} is down`, cmd("ip", "link", "set", "dev", vx.ifname, "up")));
  neighbours(vx, fresh ? [] : o.neighbours.filter((n) => n.dev === vx.ifname), out);
  fdb(vx, fresh ? [] : o.fdb.filter((f) => f.dev === vx.ifname && !f.master), out);
}

/** The VXLAN device's sysctls (slash form: an interface name may contain dots). */
export const vxlanSysctls = (dev: string): { key: string; value: string }[] => [
  { key: `net/ipv4/conf/${dev}/accept_redirects`, value: "0" },
  { key: `net/ipv4/conf/${dev}/send_redirects`, value: "0" },
  { key: `net/ipv6/conf/${dev}/accept_redirects`, value: "0" },
];

function neighbours(vx: DesiredVxlan, observed: ObservedHost["neighbours"], out: Action[]): void {
  const dev = vx.ifname;
  const perm = new Map(observed.filter((n) => n.states.includes("PERMANENT")).map((n) => [normIp(n.ip), n]));
  const wanted = neighbourEntries(vx);
  const want = new Map(wanted.map((n) => [normIp(n.ip), n]));
  for (const n of wanted) {
    const h = perm.get(normIp(n.ip));
    if (h?.mac?.toLowerCase() === n.mac.toLowerCase()) continue;
    const why = h ? `neighbour ${n.ip} lladdr ${h.mac ?? "(none)"} != ${n.mac}` : `neighbour ${n.ip} lladdr ${n.mac} missing`;
    out.push(act("neighbour", dev, why, cmd("ip", "neigh", "replace", n.ip, "lladdr", n.mac, "dev", dev, "nud", "permanent")));
  }
  for (const [ip, h] of perm) {
    if (!want.has(ip))
      out.push(
        act("neighbour", dev, `neighbour ${h.ip} lladdr ${h.mac ?? "(none)"} stale (no such peer address)`, cmd("ip", "neigh", "del", h.ip, "dev", dev)),
      );
  }
}

function fdb(vx: DesiredVxlan, observed: ObservedFdb[], out: Action[]): void {
  const dev = vx.ifname;
  const via = fdbViaArgs(vx);
  const withDst = observed.filter((f) => f.dst !== undefined);
  const floodHave = new Set(withDst.filter((f) => f.mac === ZERO_MAC).map((f) => f.dst as string));
  const flood = floodEntries(vx);
  const unicast = unicastEntries(vx);
  const floodWant = new Set(flood);
  const uniHave = new Map(withDst.filter((f) => f.mac !== ZERO_MAC).map((f) => [f.mac.toLowerCase(), f.dst as string]));
  const uniWant = new Map(unicast.map((u) => [u.mac.toLowerCase(), u.vtep]));
  const vteps = new Set([...flood, ...unicast.map((u) => u.vtep)]);
  const staleWhy = (dst: string) => (vteps.has(dst) ? "stale" : `stale (no peer has VTEP ${dst}: node removed)`);
  for (const dst of [...floodHave].sort()) {
    if (!floodWant.has(dst))
      out.push(act("fdb", dev, `fdb ${ZERO_MAC} dst ${dst} ${staleWhy(dst)}`, cmd("bridge", "fdb", "del", ZERO_MAC, "dev", dev, "dst", dst)));
  }
  for (const [mac, dst] of uniHave) {
    if (!uniWant.has(mac))
      out.push(act("fdb", dev, `fdb ${mac} dst ${dst} ${staleWhy(dst)}`, cmd("bridge", "fdb", "del", mac, "dev", dev, "dst", dst, "self")));
  }
  for (const dst of flood) {
    if (!floodHave.has(dst))
      out.push(
        act(
          "fdb",
          dev,
          `fdb ${ZERO_MAC} dst ${dst} missing (flood to the peer's VTEP)`,
          cmd("bridge", "fdb", "append", ZERO_MAC, "dev", dev, "dst", dst, ...via),
        ),
      );
  }
  for (const u of unicast) {
    const h = uniHave.get(u.mac.toLowerCase());
    if (h === u.vtep) continue;
    const why = h ? `fdb ${u.mac} dst ${h} != ${u.vtep}` : `fdb ${u.mac} dst ${u.vtep} missing (known unicast)`;
    out.push(act("fdb", dev, why, cmd("bridge", "fdb", "replace", u.mac, "dev", dev, "dst", u.vtep, ...via, "self", "permanent")));
  }
}

// ------------------------------------------------------------------------------------------------------- nft

/**
 * What identifies a loaded table: its digest comment and the number of rules per chain (so a rule deleted by hand
 * shows). Works on the rendered text and on `nft list table`'s canonical form alike.
 */
export function nftFingerprint(text: string): string {
  const comment = /^\s*comment "([^"]*)"\s*$/m.exec(text)?.[1] ?? "";
  const chains: string[] = [];
  let chain: string | undefined;
  let rules = 0;
  for (const raw of text.split("\n")) {
    const l = raw.replace(/#.*$/, "").trim();
    const open = /^chain (\S+) \{$/.exec(l);
    if (open) {
      chain = open[1];
      rules = 0;
    } else if (chain && l === "}") {
      chains.push(`${chain}:${rules}`);
      chain = undefined;
    } else if (chain && l !== "" && !l.startsWith("type ")) rules++;
  }
  return [comment, ...chains.sort()].join(" ");
}

function nft(d: DesiredHost, o: ObservedHost, out: Action[]): void {
  if (!d.nft) return;
  // nft is missing: the agent refuses before planning (reconcile), as the bundle's ciab-up does.
  if (o.nftTable === null) return;
  const { table, content } = d.nft;
  const why =
    o.nftTable === undefined
      ? `nft table inet ${table} missing (the mesh's guard and TCP MSS clamping)`
      : nftFingerprint(o.nftTable) !== nftFingerprint(content)
        ? `nft table inet ${table} differs (loaded: ${nftFingerprint(o.nftTable)}; bundle: ${nftFingerprint(content)})`
        : undefined;
  if (why)
    out.push(
      act("nft", `inet ${table}`, why, {
        argv: ["nft", "-f", "-"],
        input: content,
        display: `nft -f - < (table inet ${shellQuote(table)}, replaced in one transaction)`,
      }),
    );
}

// --------------------------------------------------------------------------------------------------- routing

function routing(r: DesiredRoutingInstance, o: ObservedHost, out: Action[]): void {
  if (r.daemon === "frr") frr(r.frrConf, r.daemons, o, out);
  if (r.daemon === "bird") bird(r.birdConf, o, out);
}

export const frrFiles = (frrConf: string, daemons: string): DesiredFile[] => [
  { path: FRR_CONF, content: frrConf, mode: 0o640, owner: "frr", backup: true },
  { path: FRR_DAEMONS, content: daemons, mode: 0o644, owner: "frr", backup: true },
  // One integrated frr.conf for all daemons (vtysh misbehaves without it); the host's own vtysh.conf stays.
  { path: VTYSH_CONF, content: "service integrated-vtysh-config\n", mode: 0o644, ifMissing: true },
];

function frr(frrConf: string, daemons: string, o: ObservedHost, out: Action[]): void {
  const f = o.frr;
  if (!f?.installed) {
    throw new CiabError("notFound", "FRR is not installed (no /usr/lib/frr/frrinit.sh)", {
      hint: "apt-get install --no-install-recommends frr frr-pythontools",
    });
  }
  const [conf, dmn, vtysh] = frrFiles(frrConf, daemons) as [DesiredFile, DesiredFile, DesiredFile];
  const confWhy = fileDiff(conf, o);
  const daemonsWhy = fileDiff(dmn, o);
  const vtyshWhy = fileDiff(vtysh, o);
  if (vtyshWhy) out.push(act("file", vtysh.path, vtyshWhy, installFile(vtysh)));
  const staged = `${FRR_CONF}.ciab-new`;
  if (!f.running) {
    // frrinit.sh start loads /etc/frr/frr.conf itself (vtysh -b): install first (checked), then start.
    const cmds: Command[] = [];
    if (confWhy) cmds.push(stageConfig(staged, "frr", frrConf), commitStaged(staged, FRR_CONF));
    if (daemonsWhy) cmds.push(installFile(dmn));
    cmds.push(f.systemd ? cmd("systemctl", "start", "frr") : cmd(FRR_INIT, "start"));
    out.push(act("frr-start", "frr", ["FRR is not running", confWhy, daemonsWhy].filter(Boolean).join("; "), ...cmds));
    return;
  }
  if (daemonsWhy) {
    // A changed daemons file (e.g. BFD switched on) needs watchfrr to start or stop daemons. `frrinit.sh reload`
    // restarts only watchfrr, starts newly enabled daemons and applies frr.conf as deltas: bgpd keeps running.
    const cmds: Command[] = [];
    if (confWhy) cmds.push(stageConfig(staged, "frr", frrConf), commitStaged(staged, FRR_CONF));
    cmds.push(installFile(dmn));
    if (f.reloadScript) cmds.push(f.systemd ? cmd("systemctl", "reload", "frr") : cmd(FRR_INIT, "reload"));
    else cmds.push(f.systemd ? cmd("systemctl", "restart", "frr") : cmd(FRR_INIT, "restart"));
    const how = f.reloadScript ? "reload (watchfrr restarts, bgpd keeps its sessions)" : "RESTART: no frr-reload.py (install frr-pythontools), sessions reset";
    out.push(act("frr-reload", "frr", `${[daemonsWhy, confWhy].filter(Boolean).join("; ")}: ${how}`, ...cmds));
    return;
  }
  if (confWhy) {
    const before = o.files[FRR_CONF]?.text;
    const cmds: Command[] = [stageConfig(staged, "frr", frrConf)];
    let how: string;
    if (f.reloadScript) {
      // frr-reload.py diffs the running configuration against the file and applies only the deltas
      // (`no neighbor …` for a removed node): sessions that did not change stay up.
      cmds.push(cmd(FRR_RELOAD, "--reload", staged));
      how = "frr-reload.py applies the deltas";
    } else {
      // vtysh -f only adds: lines the new file no longer has stay active until FRR restarts.
      cmds.push(cmd("vtysh", "-f", staged));
      const gone = before === undefined ? [] : removedLines(before, frrConf);
      how = gone.length ? `vtysh -f (no frr-reload.py: ${gone.length} removed line(s) stay active until FRR restarts; install frr-pythontools)` : "vtysh -f";
    }
    cmds.push(commitStaged(staged, FRR_CONF));
    out.push(act("frr-reload", "frr", `${confWhy}: ${how}`, ...cmds));
  }
}

function bird(birdConf: string, o: ObservedHost, out: Action[]): void {
  const b = o.bird;
  if (!b?.installed) throw new CiabError("notFound", "BIRD is not installed (no bird/birdc)", { hint: "apt-get install --no-install-recommends bird2" });
  const conf: DesiredFile = { path: BIRD_CONF, content: birdConf, mode: 0o640, owner: "bird", backup: true };
  const why = fileDiff(conf, o);
  const staged = `${BIRD_CONF}.ciab-new`;
  if (!b.running) {
    const cmds: Command[] = [];
    if (why) cmds.push(stageConfig(staged, "bird", birdConf), commitStaged(staged, BIRD_CONF));
    cmds.push(
      b.systemd
        ? cmd("systemctl", "start", "bird")
        : {
            argv: ["sh", "-c", 'mkdir -p /run/bird && exec bird -c "$1" -s "$2" -P "$3"', "ciab-bird", BIRD_CONF, BIRD_CTL, BIRD_PID],
            display: `bird -c ${shellQuote(BIRD_CONF)} -s ${shellQuote(BIRD_CTL)} -P ${shellQuote(BIRD_PID)}`,
          },
    );
    out.push(act("bird-start", "bird", ["BIRD is not running", why].filter(Boolean).join("; "), ...cmds));
    return;
  }
  if (why) {
    // `birdc configure` re-reads the file and restarts only the protocols whose configuration changed.
    out.push(
      act("bird-reload", "bird", `${why}: birdc configure`, stageConfig(staged, "bird", birdConf), commitStaged(staged, BIRD_CONF), {
        argv: ["sh", "-c", 'out=$(birdc -s "$1" configure 2>&1); echo "$out"; case $out in *Reconfigur*) exit 0;; esac; exit 1', "ciab-birdc", BIRD_CTL],
        display: `birdc -s ${shellQuote(BIRD_CTL)} configure`,
      }),
    );
  }
}

/** Files and pre-shared keys compare by SHA-256 (node:crypto is pure computation: allowed in plan/). */
export const sha256Hex = (text: string): string => createHash("sha256").update(text).digest("hex");
