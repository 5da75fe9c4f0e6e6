// The desired state of a host, read from a rendered bundle (what `ciab render` wrote, or renderBundle's output in
// memory for `ciab up NET NODE`: one path for both, so they cannot drift apart): desired.json, validated against
// schema/desired-v1.json and resolved with the files it names. Nothing here parses rendered text (the wg-quick file,
// batch files, frr.conf are installed or handed to their daemon as they are). Also the announcement choice for
// DiscoverLXD. Pure: texts in, data out; reading the directory is the agent's job.
// Must not: trust a bundle blindly (every file listed in the manifest must be there with its SHA-256; a broken
// bundle is refused before anything is observed or changed), or keep the private key anywhere but in memory.
// The hashes are not authenticated (anyone who can edit a file can edit the manifest), so every value `up` acts on
// (names, keys, ports, addresses, paths) is checked by the schema and the model's own validators, and no message
// repeats a key.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import desiredSchema from "../../schema/desired-v1.json" with { type: "json" };
import { contains, formatPrefix, network, parseAddr, parsePrefix, sortedNetworks } from "../ipam/ip.js";
import { isLowOrderKey, keyShape } from "../keys/x25519.js";
import { CiabError } from "../model/errors.js";
import { endpointProblem, NODE_NAME, networkNameProblem, parseEndpoint } from "../model/mesh.js";
import { controlAt } from "../model/schema.js";
import { DESIRED_FILE, DESIRED_VERSION, type DesiredStateV1, type SecretsV1, spliceAnnouncements, vxlanBatchFiles } from "../state/desired.js";
import { sha256Hex } from "./plan.js";
import type { DesiredFile, DesiredHost, DesiredPeer, DesiredRoutingInstance, DesiredVxlan, DesiredWireguard, PrivateKeySource } from "./types.js";

export interface BundleManifest {
  ciab: number;
  network: string;
  node: string;
  meshDigest: string;
  routing: string;
  mtu: { wg: number; vxlan: number; container: number; mss4: number };
  files: { path: string; mode: string; sha256: string }[];
  host?: { publicKey: string; subnets: string[]; discoverLXD: boolean; ipv6Forwarding: boolean };
}

export interface DesiredOptions {
  /** BGP announcements replacing the node's Subnets (the LXD bridges inside them; see chooseAnnouncements). */
  announce?: string[];
}

const broken = (dir: string, what: string, hint = "render the bundle again with 'ciab render NET --node NODE' and copy it whole") =>
  new CiabError("invalid", `bundle ${dir}: ${what}`, { hint, where: { file: dir } });

/** Validate manifest.json's shape and every listed file's presence and hash. */
export function checkManifest(dir: string, files: ReadonlyMap<string, string>): BundleManifest {
  const text = files.get("manifest.json");
  if (text === undefined) throw broken(dir, "manifest.json is missing (is this a bundle directory?)");
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw broken(dir, `manifest.json is not JSON (${(e as Error).message})`);
  }
  const o = m as Partial<BundleManifest>;
  if (
    typeof o !== "object" ||
    o === null ||
    o.ciab !== 1 ||
    typeof o.network !== "string" ||
    typeof o.node !== "string" ||
    !Array.isArray(o.files) ||
    typeof o.routing !== "string"
  ) {
    throw broken(dir, "manifest.json lacks ciab/network/node/routing/files (not a ciab bundle, or from an incompatible version)");
  }
  if (!o.host || typeof o.host.publicKey !== "string" || !Array.isArray(o.host.subnets)) {
    throw broken(dir, "manifest.json has no host section (rendered by an older ciab)");
  }
  const netWhy = networkNameProblem(o.network);
  if (netWhy || controlAt(o.network))
    throw broken(dir, `manifest.json: network name ${JSON.stringify(o.network)} is not usable: ${netWhy ?? "control character"}`);
  if (!NODE_NAME.test(o.node)) throw broken(dir, `manifest.json: node name ${JSON.stringify(o.node)} is not a DNS label`);
  checkKey(dir, "manifest.json host.publicKey", o.host.publicKey, true);
  for (const sub of o.host.subnets) prefix(dir, "manifest.json host.subnets", sub);
  for (const f of o.files) {
    if (typeof f?.path !== "string" || typeof f.sha256 !== "string" || !safeRelative(f.path))
      throw broken(dir, `manifest.json lists a file entry that is not a relative path inside the bundle: ${JSON.stringify(f?.path ?? f)}`);
  }
  for (const f of o.files) {
    const content = files.get(f.path);
    if (content === undefined) throw broken(dir, `${f.path} is missing (listed in manifest.json)`);
    if (sha256Hex(content) !== f.sha256) throw broken(dir, `${f.path} does not match its SHA-256 in manifest.json (edited or truncated)`);
  }
  return o as BundleManifest;
}

/** A path inside the bundle: relative, no "..", no control characters. */
const safeRelative = (p: string): boolean => p !== "" && !p.startsWith("/") && !p.split("/").some((x) => x === ".." || x === "") && controlAt(p) === 0;

/** A key `up` would hand to wg(8): its shape (never its value) and, for a public key, not a low-order point. */
function checkKey(dir: string, what: string, text: string, pub: boolean): void {
  const shape = keyShape(text);
  if (shape) throw broken(dir, `${what} is not a valid WireGuard key (${shape})`);
  if (pub && isLowOrderKey(text)) throw broken(dir, `${what} is all zeros or another low-order point (WireGuard refuses it)`);
}

function prefix(dir: string, what: string, text: string): string {
  try {
    if (controlAt(text)) throw new Error("control character");
    parsePrefix(text, what);
    return text;
  } catch {
    throw broken(dir, `${what}: ${JSON.stringify(text)} is not an address/length prefix`);
  }
}

function address(dir: string, what: string, text: string | undefined): string {
  try {
    if (text === undefined || controlAt(text)) throw new Error("missing");
    parseAddr(text, what);
    return text;
  } catch {
    throw broken(dir, `${what}: ${JSON.stringify(text ?? "")} is not an IP address`);
  }
}

// ----------------------------------------------------------------------------------------------- desired.json

type Validate = ValidateFunction<DesiredStateV1>;
let validator: Validate | undefined;
/** Compiled once per process (a few ms), on the first bundle read. */
const validate = (): Validate => {
  validator ??= new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true }).compile<DesiredStateV1>(desiredSchema);
  return validator;
};

/** "/wireguard/0/listenPort" -> "wireguard[0].listenPort": the field as a person names it. */
const fieldOf = (pointer: string): string =>
  pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");

/** What schema/desired-v1.json says about the first problems, each naming its field (never a value: keys). */
function schemaProblems(errors: ErrorObject[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of errors) {
    // oneOf/if reports its branches' errors too; the branch errors name the field better.
    if (e.keyword === "oneOf" || e.keyword === "if") continue;
    const field = fieldOf(e.instancePath) || "(top level)";
    const what =
      e.keyword === "additionalProperties"
        ? `${field}: unknown field ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`
        : e.keyword === "required"
          ? `${field === "(top level)" ? "" : `${field}.`}${(e.params as { missingProperty: string }).missingProperty}: missing`
          : `${field} ${e.message ?? "is invalid"}`;
    if (!seen.has(what)) out.push(what);
    seen.add(what);
  }
  return out.slice(0, 5).join("; ") + (out.length > 5 ? ` (and ${out.length - 5} more)` : "");
}

/** desired.json checked against schema/desired-v1.json; a bad one is refused naming the field (exit 4, "invalid"). */
export function parseDesired(dir: string, text: string): DesiredStateV1 {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw broken(dir, `${DESIRED_FILE} is not JSON (${(e as Error).message})`);
  }
  if (typeof v === "object" && v !== null && "version" in v && v.version !== DESIRED_VERSION)
    throw broken(dir, `${DESIRED_FILE}: version ${JSON.stringify(v.version)} is not ${DESIRED_VERSION} (rendered by another ciab version)`);
  const check = validate();
  if (!check(v)) throw broken(dir, `${DESIRED_FILE} does not match schema/desired-v1.json: ${schemaProblems(check.errors ?? [])}`);
  return v;
}

/** The bundle's secrets file: per interface, the private key and the pre-shared keys by peer public key. */
function parseSecrets(dir: string, path: string, text: string): SecretsV1 {
  let v: Partial<SecretsV1>;
  try {
    v = JSON.parse(text) as Partial<SecretsV1>;
  } catch {
    // Never the parser's message: it may quote a key.
    throw broken(dir, `${path} is not JSON`);
  }
  if (v?.version !== DESIRED_VERSION || typeof v.interfaces !== "object" || v.interfaces === null)
    throw broken(dir, `${path}: no version 1 'interfaces' object`);
  return v as SecretsV1;
}

/** The desired host state from a bundle's files (relative path -> content): desired.json and the files it names. */
export function desiredFromBundle(dir: string, files: ReadonlyMap<string, string>, opts: DesiredOptions = {}): DesiredHost {
  const m = checkManifest(dir, files);
  const host = m.host as NonNullable<BundleManifest["host"]>;
  const need = (path: string, what: string): string => {
    const t = files.get(path);
    if (t === undefined) throw broken(dir, `${path} (${what}) is missing`);
    return t;
  };
  const v = parseDesired(dir, need(DESIRED_FILE, "the desired state"));
  if (v.network !== m.network || v.node !== m.node)
    throw broken(dir, `${DESIRED_FILE} is for ${v.network}/${v.node}, manifest.json for ${m.network}/${m.node}`);
  const secrets = v.secrets === undefined ? undefined : parseSecrets(dir, v.secrets, need(v.secrets, "the keys the mesh holds inline"));

  const wireguard: DesiredWireguard[] = v.wireguard.map((w, i) => {
    const at = `${DESIRED_FILE}: wireguard[${i}]`;
    const own = secrets?.interfaces[w.ifname];
    checkKey(dir, `${at}.publicKey`, w.publicKey, true);
    let privateKey: PrivateKeySource;
    if ("file" in w.privateKey) privateKey = { file: w.privateKey.file };
    else {
      if (typeof own?.privateKey !== "string") throw broken(dir, `${at}.privateKey: the secrets file has no private key for ${w.ifname}`);
      checkKey(dir, `${v.secrets} interfaces.${w.ifname}.privateKey`, own.privateKey, false);
      privateKey = { inline: own.privateKey };
    }
    const peers: DesiredPeer[] = w.peers.map((p, j) => {
      const pat = `${at}.peers[${j}]`;
      checkKey(dir, `${pat}.publicKey`, p.publicKey, true);
      for (const a of p.allowedIPs) prefix(dir, `${pat}.allowedIPs`, a);
      if (p.endpoint !== undefined) {
        let why: string | undefined;
        try {
          why = endpointProblem(parseEndpoint(p.endpoint, "Endpoint"));
        } catch (e) {
          why = (e as Error).message;
        }
        if (why || controlAt(p.endpoint)) throw broken(dir, `${pat}.endpoint: ${why ?? "control character"}`);
      }
      let presharedKey: string | undefined;
      if (p.presharedKey) {
        presharedKey = own?.presharedKeys?.[p.publicKey];
        if (typeof presharedKey !== "string") throw broken(dir, `${pat}.presharedKey: the secrets file has no pre-shared key for peer ${p.name}`);
        checkKey(dir, `${v.secrets} pre-shared key of peer ${p.name}`, presharedKey, false);
      }
      return {
        name: p.name,
        publicKey: p.publicKey,
        ...(presharedKey ? { presharedKey } : {}),
        ...(p.endpoint !== undefined ? { endpoint: p.endpoint } : {}),
        allowedIPs: p.allowedIPs,
        keepalive: p.keepalive ?? 0,
        ...(p.nat !== undefined ? { nat: p.nat } : {}),
        ...(p.endpointSource !== undefined ? { endpointSource: p.endpointSource } : {}),
      };
    });
    const relayed = (w.relayed ?? []).map((r, j) => {
      for (const a of r.subnets) prefix(dir, `${at}.relayed[${j}].subnets`, a);
      return r;
    });
    for (const a of w.addresses) prefix(dir, `${at}.addresses`, a);
    return {
      ifname: w.ifname,
      listenPort: w.listenPort,
      fwMark: w.fwMark,
      publicKey: w.publicKey,
      privateKey,
      mtu: w.mtu,
      addresses: w.addresses,
      peers,
      ...(relayed.length ? { relayed } : {}),
    };
  });
  const vxlan: DesiredVxlan[] = v.vxlan.map((x, i) => {
    const at = `${DESIRED_FILE}: vxlan[${i}]`;
    address(dir, `${at}.local`, x.local);
    for (const a of x.addresses) prefix(dir, `${at}.addresses`, a);
    x.peers.forEach((p, j) => {
      address(dir, `${at}.peers[${j}].vtep`, p.vtep);
      for (const ip of p.ips) address(dir, `${at}.peers[${j}].ips`, ip);
    });
    if (!wireguard.some((w) => w.ifname === x.underlay)) throw broken(dir, `${at}.underlay: ${x.underlay} is not one of the WireGuard interfaces`);
    return x;
  });
  unique(
    dir,
    "interface name",
    [...wireguard, ...vxlan].map((x) => x.ifname),
  );
  unique(
    dir,
    "routing instance VRF",
    v.routing.map((r) => r.vrf ?? "(default)"),
  );

  const fileMode = (mode: string): number => Number.parseInt(mode, 8);
  const installed: DesiredFile[] = v.files.map((f) => ({
    path: f.path,
    content: need(f.source, `installed as ${f.path}`),
    mode: fileMode(f.mode),
    ...(f.secret ? { secret: true } : {}),
  }));
  // The VXLAN batch files the wg-quick hooks read are derived from the device, as the bundle's ciab-up writes them
  // (one device per network today: the hooks name the files by the network). A bundle rendered before that ships
  // them and lists them in `files`: those are installed as they are, once.
  const batches = vxlan[0] ? vxlanBatchFiles(v.network, vxlan[0]) : undefined;
  for (const b of batches ? [batches.ip, batches.fdb] : []) if (!installed.some((f) => f.path === b.path)) installed.push({ ...b, mode: 0o600 });

  const routing: DesiredRoutingInstance[] = v.routing.map((r, i) => {
    const at = `${DESIRED_FILE}: routing[${i}]`;
    for (const s of r.announce.subnets) prefix(dir, `${at}.announce.subnets`, s);
    const slot = { name: r.name, protocol: r.protocol, ...(r.vrf !== null ? { vrf: r.vrf } : {}) };
    if (r.daemon === "frr") {
      let frrConf = need(r.config, "the FRR configuration");
      // DiscoverLXD: the bridges found here replace the Subnets at the places desired.json records.
      if (opts.announce && r.announce.networkLines) frrConf = spliceAnnouncements(frrConf, r.announce.networkLines, opts.announce);
      return { ...slot, daemon: "frr", frrConf, daemons: need(r.daemons, "FRR's daemons file") };
    }
    if (r.daemon === "bird") return { ...slot, daemon: "bird", birdConf: need(r.config, "the BIRD configuration") };
    return { ...slot, daemon: "none" };
  });
  // OSPF redistributes connected networks inside the Subnets by itself, so bridges appear without a config change.
  const announce = opts.announce ? sortPrefixes(opts.announce) : host.subnets.map((s) => formatPrefix(network(parsePrefix(s))));

  return {
    network: v.network,
    node: v.node,
    wireguard,
    vxlan,
    sysctls: v.sysctls,
    files: installed,
    // The guard is not optional: a bundle without it (rendered before ciab had one) is re-rendered, not run exposed.
    nft: { table: v.nft.table, content: need(v.nft.source, "the guard") },
    routing,
    announce,
    warnings: [],
  };
}

function unique(dir: string, what: string, names: string[]): void {
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw broken(dir, `${DESIRED_FILE}: ${what} ${dup} appears twice`);
}

/** Canonical, sorted by family then address then length (as the renderers sort Subnets). */
export const sortPrefixes = (ps: string[]): string[] => [...sortedNetworks(ps, 4), ...sortedNetworks(ps, 6)];

export interface Announcements {
  /** Discovered prefixes inside the node's Subnets: announced. */
  announce: string[];
  /** Discovered prefixes outside them: refused (peers would drop them anyway), with the reason. */
  refused: { bridge: string; prefix: string; why: string }[];
}

/**
 * Prefix ownership stays safe with LXD discovery: a node's Subnets are what it owns (peers accept anything inside,
 * le 32); a discovered bridge subnet is announced only when it lies inside one of them.
 */
export function chooseAnnouncements(owned: string[], bridges: { network: string; ipv4?: string; ipv6?: string }[]): Announcements {
  const own = owned.map((s) => network(parsePrefix(s)));
  const announce: string[] = [];
  const refused: Announcements["refused"] = [];
  for (const b of bridges) {
    for (const p of [b.ipv4, b.ipv6]) {
      if (!p) continue;
      const pre = network(parsePrefix(p));
      if (own.some((o) => o.family === pre.family && contains(o, pre))) announce.push(formatPrefix(pre));
      else
        refused.push({
          bridge: b.network,
          prefix: formatPrefix(pre),
          why: own.length ? `outside the node's Subnets (${owned.join(", ")})` : "the node has no Subnets",
        });
    }
  }
  return { announce: sortPrefixes([...new Set(announce)]), refused };
}
