// The desired data plane of one node (WireGuard peers, the VXLAN device, its forwarding entries and addresses) is a
// fact of the topology (model/topology.ts): one source for both the wg-quick file's hooks and ciab-up's re-run
// reconciliation. Pure; no I/O.
import type { Mesh, MeshNode } from "../model/mesh.js";
import { type Dataplane, topology } from "../model/topology.js";

export type { Dataplane } from "../model/topology.js";

/**
 * One node's data plane from a mesh. Builds the mesh's topology on each call (O(nodes)): code that has a node's
 * view (`topology(mesh).node(n)`) uses its `dataplane` field instead.
 */
export const dataplane = (mesh: Mesh, node: MeshNode): Dataplane => topology(mesh).node(node).dataplane;
