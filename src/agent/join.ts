// `ciab token create` and `ciab join` (issue 12 part 4) over the Registry interface.
// Design: the admin allocates at token time. `token create NET --node N` adds N to the mesh by compare-and-swap
// (overlay address, VTEP, port: the same allocator as `ciab add`) as a public-key-only node with a placeholder key
// whose private half is thrown away (vwgen renders such a node; no one can impersonate it). With etcd auth on the
// token also carries N's own etcd credentials (etcd-access.ts). On the new host `join` takes the token once,
// creates the private key there (0600, never sent), publishes its record (public key, endpoint, subnets), which
// every agent lays over the mesh, and writes its local state (0600). The node never needs to write the mesh.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cryptoRandom } from "../keys/random.js";
import { genkey, pubkey } from "../keys/x25519.js";
import { addNodes, ensureNetwork } from "../model/edit.js";
import { CiabError, conflict, notFound, usage } from "../model/errors.js";
import { meshFromDoc } from "../model/mesh.js";
import { parseRecord } from "../model/record.js";
import { parseToml, type TomlTable } from "../model/toml.js";
import { editMesh } from "../registry/edit.js";
import { recordProblems } from "../registry/records.js";
import type { NodeRecord, Registry } from "../registry/registry.js";
import { decodeToken, encodeToken, type JoinToken, newToken, redeem } from "../registry/token.js";

/** Add `node` to the mesh with a placeholder public key (editMesh: compare-and-swap, retried). Its allocations. */
export interface Allocation {
  address: string[];
  vtep: string;
  listenPort: number;
}

export async function allocateNode(reg: Registry, net: string, node: string): Promise<Allocation> {
  const { mesh } = await editMesh(reg, net, { create: true }, (doc) => {
    const rnd = cryptoRandom();
    ensureNetwork(doc, rnd);
    if ((doc.Node as TomlTable | undefined)?.[node]) return;
    addNodes(doc, net, [node], rnd);
    const t = (doc.Node as Record<string, TomlTable>)[node] as TomlTable;
    t.PublicKey = pubkey(genkey());
    delete t.PrivateKey;
  });
  const n = mesh.nodes.find((x) => x.name === node);
  if (!n) throw new CiabError("internal", `node '${node}' was not added`);
  return { address: n.address, vtep: n.vtep, listenPort: n.listenPort };
}

/**
 * Admin side: allocate the node (when named), store the token's hash with its TTL, return the token text. `grant`
 * (etcd auth on) makes the node's own credentials, allowed to take this token only; they travel inside the token.
 */
export async function createJoinToken(
  reg: Registry,
  net: string,
  ttlSeconds: number,
  opts: { node?: string; grant?: (tokenId: string) => Promise<JoinToken["credentials"]>; now?: Date } = {},
): Promise<{ text: string; id: string; expiresAt: string; allocated?: Allocation }> {
  const allocated = opts.node ? await allocateNode(reg, net, opts.node) : undefined;
  const { token, stored } = newToken(net, ttlSeconds, opts);
  if (opts.grant) token.credentials = await opts.grant(token.id);
  await reg.putToken(net, token.id, JSON.stringify(stored), ttlSeconds);
  return { text: encodeToken(token), id: token.id, expiresAt: stored.expiresAt, ...(allocated ? { allocated } : {}) };
}

export interface JoinOptions {
  name?: string;
  endpoint?: string;
  subnets?: string[];
  /** Local state: NET.key (0600), NET.join.json (0600). */
  dir: string;
  /** How the agent reaches the registry again (stored in NET.join.json; credentials come from the token). */
  registry?: JoinState["registry"];
  now?: Date;
}

/** NET.join.json: what `ciab agent` needs on a joined host (0600: it holds the node's etcd credentials). */
export interface JoinState {
  version: 1;
  network: string;
  node: string;
  registry: { url: string; ca?: string; cert?: string; key?: string };
  credentials?: JoinToken["credentials"];
  keyFile: string;
  endpoint?: string;
  subnets?: string[];
}

export const joinStateFile = (dir: string, net: string): string => join(dir, `${net}.join.json`);

/** The join state of `net` in `dir`, or undefined when this host did not join it (a bad file: exit 4). */
export function readJoinState(dir: string, net: string): JoinState | undefined {
  const file = joinStateFile(dir, net);
  if (!existsSync(file)) return undefined;
  let v: Partial<JoinState>;
  try {
    v = JSON.parse(readFileSync(file, "utf8")) as Partial<JoinState>;
  } catch {
    throw new CiabError("invalid", `${file} is not JSON`, { hint: `join again: ciab join URL TOKEN` });
  }
  if (v.version !== 1 || v.network !== net || typeof v.node !== "string" || typeof v.registry?.url !== "string" || typeof v.keyFile !== "string")
    throw new CiabError("invalid", `${file}: missing or wrong version, network, node, registry.url or keyFile`, { hint: "join again: ciab join URL TOKEN" });
  return v as JoinState;
}

export interface JoinResult {
  net: string;
  node: string;
  publicKey: string;
  address: string[];
  vtep: string;
  listenPort: number;
  keyFile: string;
  stateFile: string;
}

const writeSecret = (path: string, text: string) => {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
};

/**
 * Host side. `openAs` opens the registry with the token's credentials (etcd auth) or returns the same one.
 * Malformed token: exit 4; expired, reused, wrong secret: exit 5; unknown node: exit 3.
 */
export async function joinHost(tokenText: string, openAs: (t: JoinToken) => Promise<Registry>, o: JoinOptions): Promise<JoinResult> {
  const token = decodeToken(tokenText);
  const reg = await openAs(token);
  const node = token.node ?? o.name;
  if (!node) throw usage("this token names no node: give --name NAME", "or ask for a token made with --node NAME");
  if (token.node && o.name && o.name !== token.node) throw conflict(`the token is for node '${token.node}', not '${o.name}'`);
  const cur = await reg.readMesh(token.net);
  if (!cur) throw notFound(`network '${token.net}' is not in ${reg.location}`);
  const mesh = meshFromDoc(token.net, parseToml(cur.text, reg.location), { file: reg.location, text: cur.text });
  const self = mesh.nodes.find((n) => n.name === node);
  if (!self) throw notFound(`network '${token.net}' has no node '${node}'`, { hint: "the admin allocates it: ciab token create NET --node NAME" });
  const keyFile = join(o.dir, `${token.net}.key`);
  // An existing key on this host is kept (a second join after a failure must not change the host's identity).
  const existing = existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : "";
  const priv = existing || genkey();
  // Checked before the token is taken: a typo in --subnets must not burn the token.
  const record: NodeRecord = parseRecord(
    {
      version: 1,
      node,
      publicKey: pubkey(priv, `key file ${keyFile}`),
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      ...(o.subnets?.length ? { subnets: o.subnets } : {}),
      updatedAt: (o.now ?? new Date()).toISOString(),
    },
    node,
  );
  const problems = recordProblems(mesh, record);
  if (problems.length) throw new CiabError("invalid", `cannot join as '${node}': ${problems.map((p) => `${p.field} ${p.message}`).join("; ")}`);
  redeem(token, await reg.takeToken(token.net, token.id), o.now);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  if (!existing) writeSecret(keyFile, `${priv}\n`);
  await reg.publish(token.net, record);
  const stateFile = joinStateFile(o.dir, token.net);
  const state: JoinState = {
    version: 1,
    network: token.net,
    node,
    registry: o.registry ?? { url: reg.location },
    ...(token.credentials ? { credentials: token.credentials } : {}),
    keyFile,
    ...(record.endpoint ? { endpoint: record.endpoint } : {}),
    ...(record.subnets ? { subnets: record.subnets } : {}),
  };
  writeSecret(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  return {
    net: token.net,
    node,
    publicKey: record.publicKey as string,
    address: self.address,
    vtep: self.vtep,
    listenPort: self.listenPort,
    keyFile,
    stateFile,
  };
}
