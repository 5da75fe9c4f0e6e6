// The pure part of the agent's reach watch (agent/reach.ts): when a peer is reported unreached and when it is not.
import { describe, expect, it } from "vitest";
import { FRESH_HANDSHAKE_MS, initialReach, nextReach, type Watched } from "../../src/agent/reach.js";

const w = (name: string, endpoint = `198.18.1.${name.length}:51820`): Watched => ({ name, publicKey: `key-${name}`, endpoint });
const hs = (entries: [string, number][]) => new Map(entries.map(([n, s]) => [`key-${n}`, s]));

describe("nextReach", () => {
  it("reports a peer tried for afterMs without a handshake, not before; a fresh handshake takes it off", () => {
    let st = nextReach(initialReach(), [w("a"), w("b")], hs([["a", 1000]]), 1_000_000, 120_000);
    expect(st.unreached).toEqual([]);
    st = nextReach(st, [w("a"), w("b")], hs([["a", 1100]]), 1_119_999, 120_000);
    expect(st.unreached).toEqual([]);
    st = nextReach(st, [w("a"), w("b")], hs([["a", 1100]]), 1_120_000, 120_000);
    expect(st.unreached).toEqual(["b"]);
    // b handshakes: off the list at once
    st = nextReach(
      st,
      [w("a"), w("b")],
      hs([
        ["a", 1100],
        ["b", 1125],
      ]),
      1_130_000,
      120_000,
    );
    expect(st.unreached).toEqual([]);
    expect(st.trying.size).toBe(0);
  });

  it("a stale handshake counts as none; a new endpoint starts the clock again, but a reported peer stays reported", () => {
    const now = 10_000_000;
    let st = nextReach(initialReach(), [w("a")], hs([["a", (now - FRESH_HANDSHAKE_MS) / 1000]]), now, 60_000);
    expect(st.trying.get("a")?.since).toBe(now);
    st = nextReach(st, [w("a", "198.18.9.9:1")], hs([]), now + 50_000, 60_000);
    expect(st.trying.get("a")?.since).toBe(now + 50_000);
    st = nextReach(st, [w("a", "198.18.9.9:1")], hs([]), now + 110_000, 60_000);
    expect(st.unreached).toEqual(["a"]);
    st = nextReach(st, [w("a", "198.18.9.10:1")], hs([]), now + 120_000, 60_000);
    expect(st.unreached).toEqual(["a"]);
  });

  it("a peer no longer watched is forgotten", () => {
    let st = nextReach(initialReach(), [w("a")], hs([]), 0, 10);
    st = nextReach(st, [w("a")], hs([]), 10, 10);
    expect(st.unreached).toEqual(["a"]);
    st = nextReach(st, [], hs([]), 20, 10);
    expect(st).toEqual({ trying: new Map(), unreached: [] });
  });
});
