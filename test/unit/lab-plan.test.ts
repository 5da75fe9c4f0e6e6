// The lab's layout: names, addresses, mesh building and endpoint rewriting. Pure; no root needed.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { labifyMesh, newLabMesh } from "../../src/lab/mesh.js";
import { checkLabName, endpointText, hostAddress, nodeUnderlay, planLab, planNamespaces } from "../../src/lab/plan.js";
import { onNode, PRIVATE_ETC, runSubdir } from "../../src/lab/private.js";
import { CiabError } from "../../src/model/errors.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import { dumpToml, parseToml } from "../../src/model/toml.js";
import { FIXTURE_MESHES, fixtureText } from "../helpers/meshes.js";

const rnd = () => seededRandom("lab-plan");
const labMesh = (net: string, n: number, opts: Parameters<typeof newLabMesh>[2] = { underlay: "4" }) =>
  meshFromDoc(net, newLabMesh(net, n, opts, rnd()), { file: `${net}.conf` });

describe("lab names", () => {
  it.each([
    ["ciab", true],
    ["t12345", true],
    ["abcdefghijkl", true],
    ["abcdefghijklm", false], // 13: too long for an interface name with the "v" prefix to stay readable
    ["a-b", false], // "-" would let lab "a" match lab "a-b"'s namespaces
    ["1lab", false],
    ["Lab", false],
    ["", false],
  ])("%s valid: %s", (name, valid) => {
    if (valid) expect(() => checkLabName(name)).not.toThrow();
    else expect(() => checkLabName(name)).toThrow(CiabError);
  });
});

describe("underlay addresses", () => {
  it.each([
    [1, "4", "198.18.1.1/24", "198.18.1.254", undefined, "198.18.1.1:51820"],
    [250, "4", "198.18.250.1/24", "198.18.250.254", undefined, "198.18.250.1:51820"],
    [16, "dual", "198.18.16.1/24", "198.18.16.254", "2001:db8:0:10::1/64", "198.18.16.1:51820"],
    [2, "6", undefined, undefined, "2001:db8:0:2::1/64", "[2001:db8:0:2::1]:51820"],
  ] as const)("node %i, underlay %s", (i, u, v4, gw4, v6, ep) => {
    const x = nodeUnderlay(i, u);
    expect(x.v4?.addr).toBe(v4);
    expect(x.v4?.gateway).toBe(gw4);
    expect(x.v6?.addr).toBe(v6);
    expect(endpointText(x, 51820)).toBe(ep);
  });

  it("never hands out this machine's network or anything outside the lab ranges", () => {
    for (let i = 1; i <= 250; i++) {
      const x = nodeUnderlay(i, "dual");
      expect(x.v4?.addr).toMatch(/^198\.18\.\d+\.1\/24$/);
      expect(x.v6?.addr.startsWith("2001:db8:")).toBe(true);
      expect(JSON.stringify(x)).not.toContain("192.0.2.");
    }
  });

  it.each([0, 251, 1.5])("node number %s is refused", (i) => {
    expect(() => nodeUnderlay(i, "4")).toThrow(CiabError);
  });
});

describe("hostAddress", () => {
  it.each([
    ["10.0.1.0/24", 1, "10.0.1.1/24"],
    ["10.0.1.0/24", 2, "10.0.1.2/24"],
    ["10.0.1.77/24", 2, "10.0.1.2/24"],
    ["10.0.1.0/30", 2, "10.0.1.2/30"],
    ["10.0.1.0/31", 1, undefined],
    ["10.0.1.0/32", 1, undefined],
    ["2001:db8:42::/64", 1, "2001:db8:42::1/64"],
    ["2001:db8:42::/127", 1, "2001:db8:42::1/127"],
    ["2001:db8:42::/127", 2, undefined],
  ] as const)("%s host %i = %s", (p, n, want) => {
    expect(hostAddress(p, n)).toBe(want);
  });
});

describe("newLabMesh", () => {
  it("3 nodes: lab endpoints, subnets 10.0.N.0/24, port 51820, one reflector", () => {
    const m = labMesh("lab", 3);
    expect(m.nodes.map((n) => [n.name, n.endpoint?.text, n.listenPort, n.subnets])).toEqual([
      ["n1", "198.18.1.1:51820", 51820, ["10.0.1.0/24"]],
      ["n2", "198.18.2.1:51820", 51820, ["10.0.2.0/24"]],
      ["n3", "198.18.3.1:51820", 51820, ["10.0.3.0/24"]],
    ]);
    expect(m.network.routing).toBe("bgp");
    expect(m.network.routeReflectors).toEqual(["n1"]);
  });

  it.each([
    [{ underlay: "4", routing: "ospf" }, "ospf", "bird", []],
    [{ underlay: "4", reflectors: 2 }, "bgp", "frr", ["n1", "n2"]],
    [{ underlay: "4", reflectors: 0 }, "bgp", "frr", []],
    [{ underlay: "4", routing: "none" }, "none", "frr", []],
  ] as const)("options %j", (opts, routing, daemon, rrs) => {
    const m = labMesh("lab", 4, opts);
    expect(m.network.routing).toBe(routing);
    expect(m.network.routingDaemon).toBe(daemon);
    expect(m.network.routeReflectors).toEqual(rrs);
  });

  it("IPv6 underlay: bracketed endpoints", () => {
    expect(labMesh("lab", 2, { underlay: "6" }).nodes[1]?.endpoint?.text).toBe("[2001:db8:0:2::1]:51820");
  });

  it.each([0, 251, 2.5])("--nodes %s is refused", (n) => {
    expect(() => newLabMesh("lab", n, { underlay: "4" }, rnd())).toThrow(CiabError);
  });

  it("--reflectors beyond the node count is refused", () => {
    expect(() => newLabMesh("lab", 3, { underlay: "4", reflectors: 4 }, rnd())).toThrow(/--reflectors 4/);
  });
});

describe("labifyMesh: a user's mesh file in the lab", () => {
  it.each(FIXTURE_MESHES)("%s: every endpoint is a lab address, nothing of the file's endpoints survives", (name) => {
    const text = fixtureText(name);
    const doc = parseToml(text, `${name}.conf`);
    const real = Object.values(doc.Node as Record<string, { Endpoint?: string }>)
      .map((n) => n.Endpoint)
      .filter((e): e is string => typeof e === "string" && e !== "");
    labifyMesh(doc, name, { underlay: "4" }, rnd());
    const mesh = meshFromDoc(name, doc, { file: `${name}.conf` });
    mesh.nodes.forEach((n, i) => expect(n.endpoint?.text).toBe(`198.18.${i + 1}.1:${n.listenPort}`));
    const out = dumpToml(doc);
    for (const e of real) expect(out).not.toContain(e);
  });

  it("a node whose private key stays on its host gets a lab key, with a warning", () => {
    const doc = parseToml(fixtureText("rr3"), "rr3.conf");
    const nodes = doc.Node as Record<string, Record<string, unknown>>;
    const first = Object.keys(nodes).sort()[0] as string;
    const t = nodes[first] as Record<string, unknown>;
    const pub = meshFromDoc("rr3", doc, { file: "rr3.conf" }).nodes[0]?.publicKey;
    delete t.PrivateKey;
    t.PublicKey = pub;
    const warnings = labifyMesh(doc, "rr3", { underlay: "4" }, rnd());
    expect(warnings.join("\n")).toContain(`node ${first} has no private key`);
    expect(meshFromDoc("rr3", doc, { file: "rr3.conf" }).nodes[0]?.privateKey).toBeDefined();
  });

  it("--routing and --reflectors override the file", () => {
    const doc = parseToml(fixtureText("rr3"), "rr3.conf");
    labifyMesh(doc, "rr3", { underlay: "4", reflectors: 0 }, rnd());
    expect(meshFromDoc("rr3", doc, { file: "rr3.conf" }).network.routeReflectors).toEqual([]);
  });
});

describe("planLab", () => {
  it("names namespaces by lab and index, containers c1… with the subnet's second address", () => {
    const p = planLab("t1", labMesh("t1", 3), { underlay: "4" });
    expect(planNamespaces(p)).toEqual(["t1-inet", "t1-n1", "t1-n2", "t1-n3"]);
    expect(p.nodes.map((n) => [n.name, n.uplink, n.bridgeAddresses, n.containers.map((c) => [c.name, c.ns, c.hostIf, c.addresses, c.gateway4])])).toEqual([
      ["n1", "to-n1", ["10.0.1.1/24"], [["c1", "t1-c1", "vc1", ["10.0.1.2/24"], "10.0.1.1"]]],
      ["n2", "to-n2", ["10.0.2.1/24"], [["c2", "t1-c2", "vc2", ["10.0.2.2/24"], "10.0.2.1"]]],
      ["n3", "to-n3", ["10.0.3.1/24"], [["c3", "t1-c3", "vc3", ["10.0.3.2/24"], "10.0.3.1"]]],
    ]);
  });

  it("containers get the rendered container MTU (IPv4 underlay 1500: 1500 - 60 - 50)", () => {
    const p = planLab("t1", labMesh("t1", 2), { underlay: "4" });
    expect(p.nodes.map((n) => n.containerMTU)).toEqual([1390, 1390]);
    const p6 = planLab("t1", labMesh("t1", 2, { underlay: "6" }), { underlay: "6" });
    expect(p6.nodes.map((n) => n.containerMTU)).toEqual([1370, 1370]);
  });

  it("two labs never share a namespace name", () => {
    const names = (lab: string) => {
      const p = planLab(lab, labMesh(lab, 5), { underlay: "4" });
      return [...planNamespaces(p), ...p.nodes.flatMap((n) => n.containers.map((c) => c.ns))];
    };
    const a = new Set(names("a"));
    for (const n of names("ab")) expect(a.has(n)).toBe(false);
  });

  it("interface names stay within Linux's 15 bytes for the largest lab", () => {
    const p = planLab("abcdefghijkl", labMesh("abcdefghijkl", 250), { underlay: "dual" });
    for (const n of p.nodes) {
      for (const ifname of [n.uplink, n.bridge, ...n.containers.map((c) => c.hostIf)]) expect(Buffer.byteLength(ifname)).toBeLessThanOrEqual(15);
    }
  });

  it("a node without subnets gets no container; numbering continues", () => {
    const doc = newLabMesh("t1", 3, { underlay: "4" }, rnd());
    delete ((doc.Node as Record<string, Record<string, unknown>>).n2 as Record<string, unknown>).Subnets;
    const p = planLab("t1", meshFromDoc("t1", doc, { file: "t1.conf" }), { underlay: "4" });
    expect(p.nodes.map((n) => n.containers.map((c) => [c.name, c.ns]))).toEqual([[["c1", "t1-c1"]], [], [["c3", "t1-c3"]]]);
  });

  it.each([
    ["subnets", "10.0.1.0/24", "198.18.2.0/23", /node n1's subnet 198.18.2.0\/23 overlaps the lab's underlay 198.18.2.0\/24/],
    ["subnets", "10.0.1.0/24", "2001:db8::/48", /overlaps the lab's underlay 2001:db8:0:1::\/64/],
  ])("a mesh prefix inside the lab's underlay is refused (%s %s -> %s)", (key, _from, to, msg) => {
    const doc = newLabMesh("t1", 2, { underlay: "dual" }, rnd());
    ((doc.Node as Record<string, Record<string, unknown>>).n1 as Record<string, unknown>)[key === "subnets" ? "Subnets" : key] = [to];
    expect(() => planLab("t1", meshFromDoc("t1", doc, { file: "t1.conf" }), { underlay: "dual" })).toThrow(msg);
  });
});

describe("node wrapper", () => {
  it("gives the node its own /run (with the lab root bound back in), /var/log and /etc dirs, then execs the command", () => {
    const argv = onNode("t1-n1", "/run/ciab-lab/t1/nodes/n1/root", "/run/ciab-lab", ["wg", "show"]);
    expect(argv.slice(0, 4)).toEqual(["ip", "netns", "exec", "t1-n1"]);
    expect(argv.slice(-5)).toEqual(["/run/ciab-lab/t1/nodes/n1/root", "/run/ciab-lab", "ciab-lab", "wg", "show"]);
    const script = argv[6] as string;
    expect(script).toContain('mount --bind "$l" "$r/run/$k"');
    expect(script).toContain('mount --rbind "$r/run" /run');
    expect(script).toContain('mount --bind "$r/var-log" /var/log');
    for (const e of PRIVATE_ETC) expect(script).toContain(`[ ! -d /etc/${e} ] || mount --bind "$r/etc-${e}" /etc/${e}`);
    expect(script).toMatch(/exec "\$@"$/);
  });

  it.each([
    ["/run/ciab-lab", "ciab-lab"],
    ["/run/x/y", "x/y"],
    ["/tmp/labs", ""],
  ])("lab root %s reappears at /run/%s inside the node", (root, sub) => {
    expect(runSubdir(root)).toBe(sub);
  });
});
