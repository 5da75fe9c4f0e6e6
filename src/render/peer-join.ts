// Per-mesh joins of per-peer text. A node's peers are the mesh's nodes in the mesh's order, less itself and its
// blacklisted partners, so every node's list of peer pieces (its [Peer] sections, its desired.json peer lines, its
// guard set elements) is one mesh-wide joined text with a hole or two: it is cut from that text (a few slices of
// one string, copied once when hashed and written) instead of joined again from a thousand pieces per node.
// Pure; no I/O.
import type { MeshNode } from "../model/mesh.js";

export interface PeerJoin {
  /**
   * The pieces of `peers` (a subsequence of the mesh's nodes, in their order), joined with `sep`; empty pieces are
   * left out. `replace` gives some peers another piece ("" leaves the peer out). Cost: O(mesh nodes) pointer
   * comparisons plus one slice per run of consecutive peers.
   */
  join(peers: readonly MeshNode[], sep: string, replace?: ReadonlyMap<MeshNode, string>): string;
}

interface Joined {
  text: string;
  /** Per node (by mesh index): where its piece starts and ends in `text`; -1 for an empty piece. */
  start: Int32Array;
  end: Int32Array;
  /** Per node: its position among the non-empty pieces (consecutive positions are adjacent in `text`). */
  rank: Int32Array;
}

/** `piece(p)` of every node of the mesh, joined once per separator asked for. */
export function peerJoin(nodes: readonly MeshNode[], piece: (p: MeshNode) => string): PeerJoin {
  const pieces = nodes.map(piece);
  const bySep = new Map<string, Joined>();
  const joined = (sep: string): Joined => {
    let j = bySep.get(sep);
    if (j) return j;
    const start = new Int32Array(nodes.length).fill(-1);
    const end = new Int32Array(nodes.length).fill(-1);
    const rank = new Int32Array(nodes.length).fill(-1);
    const parts: string[] = [];
    let at = 0;
    pieces.forEach((s, i) => {
      if (s === "") return;
      if (parts.length > 0) at += sep.length;
      start[i] = at;
      at += s.length;
      end[i] = at;
      rank[i] = parts.length;
      parts.push(s);
    });
    j = { text: parts.join(sep), start, end, rank };
    bySep.set(sep, j);
    return j;
  };
  return {
    join(peers, sep, replace) {
      const { text, start, end, rank } = joined(sep);
      const out: string[] = [];
      let from = -1;
      let to = -1;
      let last = -2;
      const flush = () => {
        if (from >= 0) out.push(text.slice(from, to));
        from = -1;
      };
      let i = 0;
      for (const p of peers) {
        while (i < nodes.length && nodes[i] !== p) i++;
        if (i === nodes.length) throw new Error(`peerJoin: peer '${p.name}' is not a node of the mesh, or out of order`);
        const other = replace?.get(p);
        if (other !== undefined) {
          flush();
          if (other !== "") out.push(other);
        } else if (start[i] !== -1) {
          const r = rank[i] as number;
          if (from >= 0 && r === last + 1) to = end[i] as number;
          else {
            flush();
            from = start[i] as number;
            to = end[i] as number;
          }
          last = r;
        }
        i++;
      }
      flush();
      // Concatenated, not joined: slices of the mesh-wide text stay views of it until the file is encoded once.
      let r = out[0] ?? "";
      for (let k = 1; k < out.length; k++) r = r + sep + out[k];
      return r;
    },
  };
}
