// Which registry a command works on: `--registry URL` or CIAB_REGISTRY, else the mesh files in the directory
// (-C/--dir, CIAB_DIR, the current one): the file registry, ciab's embedded default.
//   a path                          the file registry in that directory
//   etcd://host:port[,host:port]/prefix   etcd (etcds:// with TLS); credentials never in the URL

import { readRegularText } from "../adapters/files.js";
import { CiabError, usage } from "../model/errors.js";
import { type EtcdOptions, EtcdRegistry } from "./etcd.js";
import { FileRegistry } from "./file.js";
import type { Registry } from "./registry.js";

export interface RegistryOptions {
  user?: string;
  /** File holding the password (else CIAB_REGISTRY_PASSWORD). */
  passwordFile?: string;
  /** The password itself (a joined host's, from its join state); wins over the file and the environment. */
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
  timeoutMs?: number;
  lockTimeoutMs?: number;
}

const URL_HINT = "give a directory, or etcd://HOST:PORT[,HOST:PORT]/PREFIX (etcds:// for TLS)";

/** The etcd options of an etcd:// or etcds:// URL; undefined for anything else (a path). */
export function parseEtcdUrl(url: string): Omit<EtcdOptions, "username" | "password"> | undefined {
  const m = /^(etcds?):\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!m) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw usage(`--registry '${url}': unknown scheme`, URL_HINT);
    return undefined;
  }
  if (m[2]?.includes("@"))
    throw usage("--registry: credentials do not belong in the URL", "use --registry-user and CIAB_REGISTRY_PASSWORD (or --registry-password-file)");
  const hosts = (m[2] ?? "").split(",").filter(Boolean);
  if (hosts.length === 0) throw usage(`--registry '${url}' names no etcd host`, URL_HINT);
  for (const h of hosts)
    if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/.test(h) || Number(h.slice(h.lastIndexOf(":") + 1)) > 65535)
      throw usage(`--registry: '${h}' is not HOST:PORT`, URL_HINT);
  const prefix = (m[3] ?? "ciab").replace(/\/+$/, "");
  if (prefix === "" || /[\s\0]/.test(prefix)) throw usage(`--registry '${url}': the key prefix after the hosts is empty or holds whitespace`, URL_HINT);
  return { hosts, prefix, tls: m[1] === "etcds" };
}

export async function openRegistry(url: string | undefined, dir: string, o: RegistryOptions = {}): Promise<Registry> {
  const etcd = url === undefined ? undefined : parseEtcdUrl(url);
  if (!etcd) return new FileRegistry(url ?? dir, o.lockTimeoutMs);
  let password = process.env.CIAB_REGISTRY_PASSWORD;
  if (o.passwordFile !== undefined) {
    const text = readRegularText(o.passwordFile, { what: "password file", maxBytes: 4096 });
    if (text === undefined) throw new CiabError("notFound", `no password file ${o.passwordFile}`);
    password = text.replace(/\r?\n$/, "");
  }
  if (o.password !== undefined) password = o.password;
  if (o.user !== undefined && !password) throw usage("--registry-user needs a password", "set CIAB_REGISTRY_PASSWORD or --registry-password-file FILE");
  return EtcdRegistry.open({ ...etcd, ca: o.ca, cert: o.cert, key: o.key, username: o.user, password, timeoutMs: o.timeoutMs });
}
