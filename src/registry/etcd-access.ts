// Least privilege with etcd auth on (issue 12 part 6): at `ciab token create` the admin's client makes one etcd user
// and role per node. The role may read everything under the network's prefix (the mesh, every record, and the
// tokens, which hold only hashes: one watch covers it all), read-write only its own record prefix and the key of its
// own join token (to take it). So a node credential that tries to overwrite another node's public
// key or subnets, or the mesh, is refused by etcd itself ("permission denied"). Verified in ETCD-FINDINGS.md.
import { randomBytes } from "node:crypto";
import type { Etcd3 } from "etcd3";

/**
 * The keys of a network under `prefix` ("ciab"; slashes around it are dropped): the one layout of the etcd driver
 * and of the roles. A node's keys sit under `nodes/<node>/` so that a prefix permission for n1 does not cover n10.
 */
export const etcdKeys = (prefix: string, net: string) => {
  const base = `${prefix.replace(/^\/+|\/+$/g, "")}/${net}`;
  return {
    base: `${base}/`,
    mesh: `${base}/mesh`,
    nodes: `${base}/nodes/`,
    node: (node: string) => `${base}/nodes/${node}/`,
    record: (node: string) => `${base}/nodes/${node}/record`,
    tokens: `${base}/tokens/`,
    token: (id: string) => `${base}/tokens/${id}`,
  };
};

/** The node whose record `rel` (a key relative to the network's base) is, or undefined. */
export const recordNode = (rel: string): string | undefined => /^nodes\/([^/]+)\/record$/.exec(rel)?.[1];

/** etcd user and role name of a node (one per network and node). */
export const nodeUser = (net: string, node: string): string => `ciab.${net}.${node}`;

/**
 * Create (or re-create, with a new password) the node's user and role. Needs admin (root) credentials on `admin`.
 * Returns the node's credentials, to be delivered inside its join token (never stored elsewhere by ciab).
 */
export async function grantNode(admin: Etcd3, prefix: string, net: string, node: string, tokenId?: string): Promise<{ user: string; password: string }> {
  const k = etcdKeys(prefix, net);
  const name = nodeUser(net, node);
  await revokeNode(admin, net, node);
  const role = await admin.role(name).create();
  await role.grant([
    { permission: "Read", range: admin.range({ prefix: k.base }) },
    { permission: "Readwrite", range: admin.range({ prefix: k.node(node) }) },
    ...(tokenId ? [{ permission: "Readwrite" as const, key: k.token(tokenId) }] : []),
  ]);
  const password = randomBytes(24).toString("base64url");
  const user = await admin.user(name).create(password);
  await user.addRole(name);
  return { user: name, password };
}

/** Remove the node's user and role (a removed host's credentials stop working at once). Missing ones are fine. */
export async function revokeNode(admin: Etcd3, net: string, node: string): Promise<void> {
  const name = nodeUser(net, node);
  const gone = (e: unknown) => {
    if (!/not found/i.test(e instanceof Error ? e.message : String(e))) throw e;
  };
  await admin.user(name).delete().catch(gone);
  await admin.role(name).delete().catch(gone);
}

/** Turn auth on (etcd needs a `root` user holding the `root` role first). For set-up and tests. */
export async function enableAuth(admin: Etcd3, rootPassword: string): Promise<void> {
  const root = await admin.user("root").create(rootPassword);
  await admin
    .role("root")
    .create()
    .catch(() => undefined);
  await root.addRole("root");
  await admin.auth.authEnable();
}
