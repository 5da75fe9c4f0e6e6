// LXD adapter: replays replies captured from a real LXD 5.0.2 daemon (test/fixtures/lxd/, see README there), then
// garbage, error statuses, wrong shapes and timeouts, through a fake transport and through real unix sockets.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_SOCKETS,
  discoverSubnets,
  findSocket,
  type LxdEvent,
  type LxdReply,
  type LxdRequest,
  type LxdTransport,
  parseFrames,
  socketCandidates,
  subnetsFromNetworks,
  watchEvents,
} from "../../src/adapters/lxd.js";
import type { CiabError } from "../../src/model/errors.js";
import { ROOT } from "../helpers/env.js";
import { ciabFailure } from "../helpers/meshes.js";

const fixture = (name: string) => readFileSync(join(ROOT, "test", "fixtures", "lxd", name), "utf8");
const SOCK = "/fake/lxd/unix.socket";

function replay(reply: LxdReply | Error, seen: LxdRequest[] = []): LxdTransport {
  return async (req) => {
    seen.push(req);
    if (reply instanceof Error) throw reply;
    return reply;
  };
}
const opts = (transport: LxdTransport) => ({ socket: SOCK, isSocket: () => true, transport });

const failure = ciabFailure;

describe("socket discovery", () => {
  it("tries LXD_DIR, INCUS_DIR, then snap, deb and Incus paths", () => {
    expect(socketCandidates({})).toEqual([...DEFAULT_SOCKETS]);
    expect(socketCandidates({ LXD_DIR: "/x/lxd", INCUS_DIR: "/y/incus" })).toEqual([
      "/x/lxd/unix.socket",
      "/y/incus/unix.socket",
      "/var/snap/lxd/common/lxd/unix.socket",
      "/var/lib/lxd/unix.socket",
      "/var/lib/incus/unix.socket",
    ]);
  });

  it("picks the first candidate that is a socket", () => {
    const present = new Set(["/var/lib/lxd/unix.socket", "/var/lib/incus/unix.socket"]);
    expect(findSocket({ env: {}, isSocket: (p) => present.has(p) })).toBe("/var/lib/lxd/unix.socket");
    expect(findSocket({ env: { LXD_DIR: "/x" }, isSocket: (p) => p === "/x/unix.socket" || present.has(p) })).toBe("/x/unix.socket");
    expect(findSocket({ env: {}, isSocket: (p) => p === "/var/lib/incus/unix.socket" })).toBe("/var/lib/incus/unix.socket");
  });

  it("an explicit socket is the only one tried", () => {
    expect(findSocket({ socket: "/s", isSocket: (p) => p === "/s" })).toBe("/s");
    const e = (() => {
      try {
        findSocket({ socket: "/missing", env: {}, isSocket: (p) => p !== "/missing" });
      } catch (err) {
        return err as CiabError;
      }
    })();
    expect(e?.code).toBe("notFound");
    expect(e?.message).toContain("/missing");
  });

  it("no socket anywhere: notFound naming every path tried", async () => {
    const e = await failure(discoverSubnets({ env: {}, isSocket: () => false, transport: replay({ status: 200, body: "{}" }) }));
    expect(e.code).toBe("notFound");
    expect(e.message).toContain("/var/snap/lxd/common/lxd/unix.socket");
    expect(e.message).toContain("/var/lib/incus/unix.socket");
    expect(e.hint).toMatch(/DiscoverLXD/);
  });
});

describe("discoverSubnets on captured replies", () => {
  it("keeps managed bridges only and turns gateway addresses into network prefixes", async () => {
    const seen: LxdRequest[] = [];
    const subnets = await discoverSubnets(opts(replay({ status: 200, body: fixture("networks-recursion.json") }, seen)));
    // lo (loopback), br9 (unmanaged bridge) and mv0 (managed macvlan) are left out; lxdbr1's "auto" addresses were
    // resolved by LXD at creation time.
    expect(subnets).toEqual([
      { network: "lxdbr0", ipv4: "10.0.1.0/24" },
      { network: "lxdbr1", ipv4: "10.117.86.0/24", ipv6: "fd42:7ce1:de45:ee7c::/64" },
      { network: "lxdbr2", ipv6: "fd42:1:2:3::/64" },
      { network: "lxdbr3", ipv4: "10.0.7.0/24", ipv6: "fd00:7::/64" },
    ]);
    expect(seen).toEqual([{ socketPath: SOCK, method: "GET", path: "/1.0/networks?recursion=1", timeoutMs: 5000 }]);
  });

  it("passes the project and the timeout", async () => {
    const seen: LxdRequest[] = [];
    await discoverSubnets({ ...opts(replay({ status: 200, body: fixture("networks-recursion.json") }, seen)), project: "a b", timeoutMs: 250 });
    expect(seen[0]?.path).toBe("/1.0/networks?recursion=1&project=a%20b");
    expect(seen[0]?.timeoutMs).toBe(250);
  });

  it("an error reply (captured 404) names the socket, the request and LXD's message", async () => {
    const e = await failure(discoverSubnets(opts(replay({ status: 404, body: fixture("error-not-found.json") }))));
    expect(e.code).toBe("external");
    expect(e.message).toBe("LXD at /fake/lxd/unix.socket: GET /1.0/networks?recursion=1 failed with 404: Network not found");
    expect(e.hint).toBeTruthy();
  });

  it("a reply without recursion (a list of URLs) is rejected, not misread", async () => {
    const e = await failure(discoverSubnets(opts(replay({ status: 200, body: fixture("networks-names.json") }))));
    expect(e.message).toContain("network #0 is not an object");
  });
});

describe("discoverSubnets on bad replies", () => {
  const sync = (metadata: unknown) => JSON.stringify({ type: "sync", status: "Success", status_code: 200, error_code: 0, error: "", metadata });
  const bridge = (config: unknown, extra: Record<string, unknown> = {}) => ({ name: "br", type: "bridge", managed: true, config, ...extra });

  it.each([
    ["not JSON", { status: 200, body: "<html>hello</html>" }, /body that is not JSON \("<html>hello<\/html>"\)/],
    ["empty body", { status: 200, body: "" }, /not JSON/],
    ["JSON that is not an object", { status: 200, body: "[1,2]" }, /JSON that is not an object/],
    ["HTTP 500 with JSON error", { status: 500, body: JSON.stringify({ type: "error", error_code: 500, error: "boom" }) }, /failed with 500: boom/],
    ["HTTP 502 with no JSON", { status: 502, body: "Bad Gateway" }, /HTTP 502 with a body that is not JSON/],
    ["error type with status 200", { status: 200, body: JSON.stringify({ type: "error", error: "nope" }) }, /failed with 200: nope/],
    ["async reply", { status: 202, body: JSON.stringify({ type: "async", metadata: {} }) }, /unexpected reply type "async"/],
    ["sync without metadata", { status: 200, body: JSON.stringify({ type: "sync" }) }, /unexpected reply type "sync"/],
    ["metadata not a list", { status: 200, body: sync({}) }, /metadata is not a list of networks/],
    ["network not an object", { status: 200, body: sync(["x"]) }, /network #0 is not an object/],
    ["network without name", { status: 200, body: sync([{ type: "bridge", managed: true, config: {} }]) }, /network #0 has no name/],
    ["network without type", { status: 200, body: sync([{ name: "a", managed: true, config: {} }]) }, /network a has no type/],
    ["managed not boolean", { status: 200, body: sync([{ name: "a", type: "bridge", managed: "yes", config: {} }]) }, /"managed" is not a boolean/],
    ["config not an object", { status: 200, body: sync([bridge(null)]) }, /network br: config is not an object/],
    ["address not a string", { status: 200, body: sync([bridge({ "ipv4.address": 42 })]) }, /ipv4.address is not a string/],
    ["address garbage", { status: 200, body: sync([bridge({ "ipv4.address": "banana" })]) }, /ipv4.address "banana" is not an IPv4 address\/length/],
    ["address without length", { status: 200, body: sync([bridge({ "ipv4.address": "10.0.0.1" })]) }, /"10.0.0.1" is not an IPv4/],
    ["IPv6 in ipv4.address", { status: 200, body: sync([bridge({ "ipv4.address": "fd00::1/64" })]) }, /"fd00::1\/64" is not an IPv4/],
    ["IPv4 in ipv6.address", { status: 200, body: sync([bridge({ "ipv6.address": "10.0.0.1/24" })]) }, /"10.0.0.1\/24" is not an IPv6/],
  ])("%s → CiabError external", async (_name, reply, message) => {
    const e = await failure(discoverSubnets(opts(replay(reply))));
    expect(e.code).toBe("external");
    expect(e.message).toMatch(/^LXD at \/fake\/lxd\/unix.socket: /);
    expect(e.message).toMatch(message);
    expect(e.hint).toBeTruthy();
  });

  it.each([
    ["none", { "ipv4.address": "none", "ipv6.address": "none" }],
    ["empty", { "ipv4.address": "", "ipv6.address": "" }],
    ["auto not yet resolved", { "ipv4.address": "auto", "ipv6.address": "auto" }],
    ["unset", {}],
  ])("a managed bridge without a usable address (%s) yields nothing", (_name, config) => {
    expect(subnetsFromNetworks([bridge(config)])).toEqual([]);
  });

  it("clears host bits and sorts by network name", () => {
    const nets = [
      { name: "z", type: "bridge", managed: true, config: { "ipv4.address": "10.9.8.7/16" } },
      { name: "a", type: "bridge", managed: true, config: { "ipv6.address": "FD00:0:0:1::1/64" } },
    ];
    expect(subnetsFromNetworks(nets)).toEqual([
      { network: "a", ipv6: "fd00:0:0:1::/64" },
      { network: "z", ipv4: "10.9.0.0/16" },
    ]);
  });

  it.each([
    ["ECONNREFUSED", Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }), /nothing listens on the socket/, /start/],
    ["EACCES", Object.assign(new Error("connect EACCES"), { code: "EACCES" }), /permission denied/, /lxd\/incus-admin group/],
    ["reset", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), /socket hang up/, /lxc info/],
  ])("transport error %s → CiabError external with a hint", async (_name, err, message, hint) => {
    const e = await failure(discoverSubnets(opts(replay(err))));
    expect(e.code).toBe("external");
    expect(e.message).toMatch(message);
    expect(e.hint).toMatch(hint);
    expect(e.cause).toBe(err);
  });
});

describe("the real node:http transport over unix sockets", () => {
  let dir = "";
  const servers: Server[] = [];
  const conns = new Set<Socket>();
  const listen = (server: Server, name: string) =>
    new Promise<string>((resolve) => {
      servers.push(server);
      // tracked so afterAll can close servers whose clients (or keep-alive) left connections open
      server.on("connection", (c: Socket) => conns.add(c));
      const path = join(dir, name);
      server.listen(path, () => resolve(path));
    });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ciabt-lxdsock-"));
  });
  afterAll(async () => {
    for (const c of conns) c.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads a captured reply served over a unix socket", async () => {
    let path = "";
    const server = createHttpServer((req, res) => {
      path = req.url ?? "";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(fixture("networks-recursion.json"));
    });
    const socket = await listen(server, "good.socket");
    const subnets = await discoverSubnets({ socket });
    expect(subnets.map((s) => s.network)).toEqual(["lxdbr0", "lxdbr1", "lxdbr2", "lxdbr3"]);
    expect(path).toBe("/1.0/networks?recursion=1");
  });

  it("a daemon that accepts but never answers times out", async () => {
    const socket = await listen(
      createNetServer(() => {}),
      "silent.socket",
    );
    const t = Date.now();
    const e = await failure(discoverSubnets({ socket, timeoutMs: 300 }));
    expect(Date.now() - t).toBeLessThan(2000);
    expect(e.code).toBe("external");
    expect(e.message).toBe(`LXD at ${socket}: GET /1.0/networks?recursion=1: no complete reply within 300 ms`);
    expect(e.hint).toMatch(/hung/);
  });

  it("a reply that trickles forever also hits the deadline", async () => {
    const server = createHttpServer((_req, res) => {
      res.writeHead(200);
      const t = setInterval(() => res.write(" "), 50);
      res.on("close", () => clearInterval(t));
    });
    const socket = await listen(server, "slow.socket");
    const e = await failure(discoverSubnets({ socket, timeoutMs: 400 }));
    expect(e.message).toMatch(/no complete reply within 400 ms/);
  });

  it("something that is not HTTP at all", async () => {
    const socket = await listen(
      createNetServer((c) => c.end("garbage\r\n\r\n")),
      "garbage.socket",
    );
    const e = await failure(discoverSubnets({ socket, timeoutMs: 2000 }));
    expect(e.code).toBe("external");
    expect(e.message).toContain(socket);
  });

  it("HTTP with a body that is not JSON", async () => {
    const socket = await listen(
      createHttpServer((_req, res) => res.end("hello")),
      "text.socket",
    );
    const e = await failure(discoverSubnets({ socket }));
    expect(e.message).toMatch(/HTTP 200 with a body that is not JSON \("hello"\)/);
  });
});

/** A server frame (unmasked), as LXD sends them. */
function frame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  const body = Buffer.from(payload);
  const len = body.length;
  const head =
    len < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, len])
      : len < 65536
        ? Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 126]), Buffer.from([len >> 8, len & 0xff])])
        : (() => {
            const b = Buffer.alloc(10);
            b[0] = (fin ? 0x80 : 0) | opcode;
            b[1] = 127;
            b.writeBigUInt64BE(BigInt(len), 2);
            return b;
          })();
  return Buffer.concat([head, body]);
}

describe("websocket frames", () => {
  it("splits complete frames and keeps an incomplete tail", () => {
    const big = "x".repeat(300);
    const huge = "y".repeat(70000);
    const all = Buffer.concat([frame(1, "hi"), frame(1, big), frame(9, ""), frame(1, huge), frame(1, "tail")]);
    const { frames, rest } = parseFrames(all.subarray(0, all.length - 2));
    expect(frames.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
      [1, true, 2],
      [1, true, 300],
      [9, true, 0],
      [1, true, 70000],
    ]);
    expect(rest.length).toBe(4);
    expect(parseFrames(Buffer.concat([rest, all.subarray(all.length - 2)])).frames[0]?.payload.toString()).toBe("tail");
  });

  it("unmasks masked frames and reads continuation flags", () => {
    const key = [1, 2, 3, 4];
    const data = Buffer.from("abcdef").map((b, i) => b ^ (key[i % 4] as number));
    const masked = Buffer.concat([Buffer.from([0x01, 0x80 | 6]), Buffer.from(key), data]);
    const [f] = parseFrames(masked).frames;
    expect(f).toEqual({ fin: false, opcode: 1, payload: Buffer.from("abcdef") });
  });

  it("rejects absurd frame lengths", () => {
    const b = Buffer.alloc(10);
    b[0] = 0x81;
    b[1] = 127;
    b.writeBigUInt64BE(1n << 40n, 2);
    expect(() => parseFrames(b)).toThrow(/too large/);
  });
});

describe("watchEvents over a unix socket", () => {
  let dir = "";
  const servers: Server[] = [];
  const conns = new Set<Socket>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ciabt-lxdev-"));
  });
  afterAll(async () => {
    for (const c of conns) c.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    rmSync(dir, { recursive: true, force: true });
  });
  const listen = (server: Server, name: string) =>
    new Promise<string>((resolve) => {
      servers.push(server);
      server.on("connection", (c: Socket) => conns.add(c));
      const path = join(dir, name);
      server.listen(path, () => resolve(path));
    });

  /** Accepts the upgrade like LXD and then runs script(socket). */
  const wsServer = (script: (c: Socket, path: string) => void, accept?: string) => {
    const server = createHttpServer((_req, res) => res.end());
    server.on("upgrade", (req, c: Socket) => {
      const key = String(req.headers["sec-websocket-key"]);
      const acc = accept ?? createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      c.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acc}\r\n\r\n`);
      script(c, req.url ?? "");
    });
    return server;
  };

  it("delivers events (whole and fragmented), answers pings, reports garbage, ends on close", async () => {
    const ev = (n: string) => JSON.stringify({ type: "lifecycle", timestamp: "t", metadata: { action: "network-created", source: `/1.0/networks/${n}` } });
    let url = "";
    let gotPong: (b: Buffer) => void = () => {};
    const pong = new Promise<Buffer>((r) => {
      gotPong = r;
    });
    const server = wsServer((c, path) => {
      url = path;
      c.on("data", (d: Buffer) => {
        if (parseFrames(d).frames[0]?.opcode !== 0xa) return;
        gotPong(d);
        const second = Buffer.from(ev("br2"));
        c.write(Buffer.concat([frame(1, second.subarray(0, 10), false), frame(0, second.subarray(10))]));
        c.write(frame(1, "not json"));
        c.write(frame(1, JSON.stringify({ type: 3 })));
        c.end(frame(8, Buffer.from([0x03, 0xe8])));
      });
      c.write(frame(1, ev("br1")));
      c.write(frame(9, "ping!"));
    });
    const socket = await listen(server, "ws.socket");
    const events: LxdEvent[] = [];
    const errors: CiabError[] = [];
    const stream = await watchEvents(
      { socket, project: "p1" },
      (e) => events.push(e),
      (e) => errors.push(e),
    );
    const p = await pong;
    // the pong is masked (client frames must be) and echoes the ping payload
    expect((p[1] ?? 0) & 0x80).toBe(0x80);
    expect(parseFrames(p).frames[0]?.payload.toString()).toBe("ping!");
    await stream.closed;
    expect(url).toBe("/1.0/events?type=lifecycle&project=p1");
    expect(events.map((e) => e.metadata.source)).toEqual(["/1.0/networks/br1", "/1.0/networks/br2"]);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/event that is not JSON: "not json"/),
      expect.stringMatching(/event with an unexpected shape/),
    ]);
    expect(errors.every((e) => e.code === "external")).toBe(true);
  });

  it("an HTTP error instead of an upgrade carries LXD's message", async () => {
    const server = createHttpServer((_req, res) => {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(fixture("error-not-found.json"));
    });
    const socket = await listen(server, "http.socket");
    const e = await failure(watchEvents({ socket }, () => {}));
    expect(e.message).toBe(`LXD at ${socket}: GET /1.0/events?type=lifecycle answered HTTP 404 instead of a websocket: Network not found`);
  });

  it("a wrong handshake and a silent socket are errors", async () => {
    const bad = await listen(
      wsServer(() => {}, "d3Jvbmc="),
      "bad.socket",
    );
    expect((await failure(watchEvents({ socket: bad }, () => {}))).message).toMatch(/wrong Sec-WebSocket-Accept/);
    const silent = await listen(
      createNetServer(() => {}),
      "silent.socket",
    );
    expect((await failure(watchEvents({ socket: silent, timeoutMs: 200 }, () => {}))).message).toMatch(/no complete reply within 200 ms/);
  });

  it("close() ends the stream", async () => {
    const socket = await listen(
      wsServer(() => {}),
      "idle.socket",
    );
    const stream = await watchEvents({ socket }, () => {});
    stream.close();
    await stream.closed;
  });
});
