// iproute2: parsers of `ip -j -d link show`, `ip -j addr show`, `ip -j neigh show`, `bridge -j fdb show` and
// `ip -j route show` into the planner's observed types, and the one function that runs them through the injected
// Runner. Owns: reading iproute2's JSON defensively (a reply that is not what iproute2 6.x prints is an "external"
// error naming the command, never a crash or a silent empty list). Must not: change anything on the host, or
// interpret what it reads (the planner decides).
import { CiabError } from "../model/errors.js";
import type { ObservedAddress, ObservedFdb, ObservedLink, ObservedNeighbour } from "../plan/types.js";
import { type Runner, tail } from "./exec.js";

/** CiabError "external" for output a command should never print. */
export const garbage = (command: string, what: string, text?: string): CiabError =>
  new CiabError(
    "external",
    `'${command}' printed ${what}${text === undefined ? "" : `: ${JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text)}`}`,
    {
      hint: "this version of the tool may print something ciab does not know; report it with the tool's version",
    },
  );

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function parseJson(command: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw garbage(command, "output that is not JSON", text);
  }
}

/** Parse a JSON object (what `vtysh -c '… json'` prints). */
export function jsonObject(command: string, text: string): Record<string, unknown> {
  const v = parseJson(command, text);
  if (!isObj(v)) throw garbage(command, "JSON that is not an object", text);
  return v;
}

/** Parse a JSON array of objects (what every `ip -j` / `bridge -j` listing prints; "" means none). */
export function jsonList(command: string, text: string): Record<string, unknown>[] {
  if (text.trim() === "") return [];
  const v = parseJson(command, text);
  if (!Array.isArray(v)) throw garbage(command, "JSON that is not a list", text);
  return v.map((x, i) => {
    if (!isObj(x)) throw garbage(command, `list item #${i} that is not an object`);
    return x;
  });
}

const str = (command: string, o: Record<string, unknown>, k: string, i: number): string => {
  const v = o[k];
  if (typeof v !== "string") throw garbage(command, `item #${i} without a string "${k}"`);
  return v;
};
const num = (command: string, o: Record<string, unknown>, k: string, i: number): number => {
  const v = o[k];
  if (typeof v !== "number") throw garbage(command, `item #${i} without a number "${k}"`);
  return v;
};
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

export const LINK_CMD = "ip -j -d link show";
export function parseLinks(text: string, command = LINK_CMD): ObservedLink[] {
  return jsonList(command, text).map((o, i) => {
    const info = isObj(o.linkinfo) ? o.linkinfo : undefined;
    const kind = typeof info?.info_kind === "string" ? info.info_kind : "";
    const data = isObj(info?.info_data) ? info.info_data : undefined;
    const link: ObservedLink = {
      name: str(command, o, "ifname", i),
      kind,
      mtu: num(command, o, "mtu", i),
      up: strs(o.flags).includes("UP"),
      ...(typeof o.address === "string" ? { mac: o.address } : {}),
      ...(typeof o.ifalias === "string" ? { alias: o.ifalias } : {}),
    };
    if (kind === "vxlan" && data) {
      if (typeof data.id !== "number") throw garbage(command, `vxlan ${link.name} without a numeric id`);
      link.vxlan = {
        id: data.id,
        // iproute2 prints "port" (6.x); without -d or on old versions it is absent: the default port.
        port: typeof data.port === "number" ? data.port : 8472,
        learning: data.learning === true,
        ...(typeof data.local === "string" ? { local: data.local } : typeof data.local6 === "string" ? { local: data.local6 } : {}),
      };
    }
    return link;
  });
}

export const ADDR_CMD = "ip -j addr show";
export function parseAddresses(text: string, command = ADDR_CMD): ObservedAddress[] {
  const out: ObservedAddress[] = [];
  jsonList(command, text).forEach((o, i) => {
    const dev = str(command, o, "ifname", i);
    const infos = Array.isArray(o.addr_info) ? o.addr_info : [];
    for (const a of infos) {
      if (!isObj(a) || typeof a.local !== "string" || typeof a.prefixlen !== "number") continue; // e.g. a bare {} for a link without addresses
      const family = a.family === "inet6" ? 6 : a.family === "inet" ? 4 : undefined;
      if (!family) continue;
      out.push({ dev, cidr: `${a.local}/${a.prefixlen}`, family, scope: typeof a.scope === "string" ? a.scope : "" });
    }
  });
  return out;
}

export const NEIGH_CMD = "ip -j neigh show";
/** `dev`: the device the listing was filtered by (`… show dev X` leaves the "dev" key out of each entry). */
export function parseNeighbours(text: string, command = NEIGH_CMD, dev?: string): ObservedNeighbour[] {
  return jsonList(command, text).map((o, i) => ({
    dev: dev ?? str(command, o, "dev", i),
    ip: str(command, o, "dst", i),
    ...(typeof o.lladdr === "string" ? { mac: o.lladdr } : {}),
    states: strs(o.state).map((s) => s.toUpperCase()),
  }));
}

export const FDB_CMD = "bridge -j fdb show";
/** `dev`: the device the listing was filtered by (`… show dev X` leaves the "ifname" key out of each entry). */
export function parseFdb(text: string, command = FDB_CMD, dev?: string): ObservedFdb[] {
  return jsonList(command, text).map((o, i) => ({
    dev: dev ?? str(command, o, "ifname", i),
    mac: str(command, o, "mac", i).toLowerCase(),
    ...(typeof o.dst === "string" ? { dst: o.dst } : {}),
    flags: strs(o.flags),
    state: typeof o.state === "string" ? o.state : "",
    ...(typeof o.master === "string" ? { master: o.master } : {}),
  }));
}

export interface ObservedRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
}

export function parseRoutes(text: string, command = "ip -j route show"): ObservedRoute[] {
  return jsonList(command, text).map((o, i) => ({
    dst: str(command, o, "dst", i),
    ...(typeof o.gateway === "string" ? { gateway: o.gateway } : {}),
    ...(typeof o.dev === "string" ? { dev: o.dev } : {}),
    ...(typeof o.protocol === "string" ? { protocol: o.protocol } : {}),
  }));
}

/** Run a listing command; a failure is an "external" error with its output. */
export async function runList(run: Runner, argv: string[]): Promise<string> {
  const r = await run(argv, { timeoutMs: 15_000 });
  if (r.code !== 0) {
    const why = r.code === 127 ? "is not installed (install iproute2)" : `exited with ${r.code}`;
    throw new CiabError("external", `'${argv.join(" ")}' ${why}${r.stderr ? `:\n${tail(r.stderr, 4)}` : ""}`);
  }
  return r.stdout;
}

export interface IpState {
  links: ObservedLink[];
  addresses: ObservedAddress[];
  neighbours: ObservedNeighbour[];
  fdb: ObservedFdb[];
}

/**
 * Links, addresses, and the neighbour and FDB entries of the given devices (the mesh's VXLAN devices; or chosen
 * from the links, e.g. every device carrying ciab's mark).
 */
export async function observeIp(run: Runner, devs: string[] | ((links: ObservedLink[]) => string[])): Promise<IpState> {
  const links = parseLinks(await runList(run, ["ip", "-j", "-d", "link", "show"]));
  const addresses = parseAddresses(await runList(run, ["ip", "-j", "addr", "show"]));
  const neighbours: ObservedNeighbour[] = [];
  const fdb: ObservedFdb[] = [];
  for (const dev of typeof devs === "function" ? devs(links) : devs) {
    if (!links.some((l) => l.name === dev)) continue;
    neighbours.push(...parseNeighbours(await runList(run, ["ip", "-j", "neigh", "show", "dev", dev]), `ip -j neigh show dev ${dev}`, dev));
    fdb.push(...parseFdb(await runList(run, ["bridge", "-j", "fdb", "show", "dev", dev]), `bridge -j fdb show dev ${dev}`, dev));
  }
  return { links, addresses, neighbours, fdb };
}
