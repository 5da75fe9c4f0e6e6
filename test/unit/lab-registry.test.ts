// The registry lab's pure parts (src/lab/registry-lab.ts): its etcd namespace and link stay inside lab namespaces,
// the URL follows the underlay, standby nodes are validated and left out of the view, and the admin imports the
// designed mesh without its nodes and reflectors. The real etcd, joins and agents: test/e2e/lab-registry.test.ts.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { labMesh } from "../../src/lab/lab.js";
import { planLab } from "../../src/lab/plan.js";
import { emptyMeshText, etcdLinkSteps, joinedView, labRegistry } from "../../src/lab/registry-lab.js";
import { parseToml } from "../../src/model/toml.js";

const design = (underlay: "4" | "6" | "dual" = "4") => {
  const { doc, mesh } = labMesh({ name: "r1", nodes: 4, underlay, random: seededRandom("lab-registry") });
  return { doc, plan: planLab("r1", mesh, { underlay }) };
};

describe("registry lab", () => {
  it("etcd gets its own namespace whose link is made inside lab namespaces (never the root namespace)", () => {
    const { plan } = design("dual");
    const steps = etcdLinkSteps(plan);
    for (const s of steps) {
      const [a, b, ns] = s.argv;
      expect(a === "ip" && (b === "-n" || b === "netns"), s.argv.join(" ")).toBe(true);
      expect(ns?.startsWith("r1-")).toBe(true);
      expect(s.argv.join(" ")).not.toContain("192.0.2.");
    }
    const veth = steps.find((s) => s.argv.includes("veth"))?.argv ?? [];
    expect(veth.slice(0, 3)).toEqual(["ip", "-n", "r1-inet"]);
    expect(veth[veth.indexOf("netns") + 1]).toBe("r1-etcd");
    expect(steps.map((s) => s.argv.join(" ")).join("\n")).toMatch(/198\.19\.0\.1\/24[\s\S]*2001:db8:1::1\/64/);
  });

  it("the nodes' URL follows the underlay; standby is the last K nodes, at least one node joins at once", () => {
    expect(labRegistry(design("4").plan, 1)).toMatchObject({ ns: "r1-etcd", url: "etcd://198.19.0.1:2379/ciab", standby: ["n4"], joined: [] });
    expect(labRegistry(design("6").plan, 0).url).toBe("etcd://[2001:db8:1::1]:2379/ciab");
    expect(() => labRegistry(design().plan, 4)).toThrow(/--standby 4: must be 0-3/);
    expect(() => labRegistry(design().plan, -1)).toThrow(/--standby/);
  });

  it("the admin imports the settings without nodes or reflectors; the view leaves standby nodes out", () => {
    const { doc, plan } = design();
    const empty = parseToml(emptyMeshText(doc), "x");
    expect(empty.Node).toBeUndefined();
    expect((empty.Network as Record<string, unknown>).RouteReflectors).toBeUndefined();
    expect((empty.Network as Record<string, unknown>).VxlanID).toBe((doc.Network as Record<string, unknown>).VxlanID);
    expect(doc.Node).toBeDefined(); // the design itself is untouched
    const reg = { ...labRegistry(plan, 1), joined: ["n1", "n2", "n3"] };
    const cs = plan.nodes.map((n) => ({ kind: "netns" as const, name: `c${n.index}`, node: n.name, addresses: [], exec: [], mtu: 1390 }));
    const v = joinedView(plan, cs, reg);
    expect(v.plan.nodes.map((n) => n.name)).toEqual(["n1", "n2", "n3"]);
    expect(v.containers.map((c) => c.node)).toEqual(["n1", "n2", "n3"]);
    expect(joinedView(plan, cs, undefined).containers).toHaveLength(4);
  });
});
