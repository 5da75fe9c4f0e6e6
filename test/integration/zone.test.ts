// Zones from `ciab zone` pass BIND's named-checkzone: forward and reverse zones apart, SOA and NS present.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ciab, tempDir, withFiles } from "../helpers/cli.js";
import { FIXTURES, hasTool } from "../helpers/env.js";

const check = (zone: string, file: string) => spawnSync("named-checkzone", ["-i", "full", zone, file], { encoding: "utf8" });

describe.skipIf(!hasTool("named-checkzone"))("zone files pass named-checkzone", () => {
  it.each([
    ["basic3/ciabmesh.conf", "ciabmesh", "mesh.example.com", ["mesh.example.com", "10.20.172.in-addr.arpa", "0.0.0.0.2.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa"]],
    ["blacklist4/lab.conf", "lab", "lab.example.net.", ["lab.example.net", "0.77.10.in-addr.arpa", "0.0.0.0.0.0.0.0.7.7.0.0.2.4.d.f.ip6.arpa"]],
  ])("%s", (file, net, domain, zones) => {
    const dir = withFiles(join(FIXTURES, file));
    const out = tempDir();
    const r = ciab(["zone", net, domain, "--serial", "2026112301", "--out", out], { cwd: dir });
    expect(r.stderr).not.toMatch(/error/); // read warnings (issue 10: zone names what render would refuse)
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(zones.map((z) => `db.${z}`).sort());
    for (const z of zones) {
      const c = check(z, join(out, `db.${z}`));
      expect(c.stdout + c.stderr).toMatch(/loaded serial 2026112301\nOK/);
      expect(c.status).toBe(0);
    }
    const forward = readFileSync(join(out, `db.${zones[0]}`), "utf8");
    expect(forward).toMatch(/IN\s+NS\s+\S+/);
    expect(forward).not.toMatch(/PTR/);
  });

  it("prints the forward zone by default and each reverse zone on request", () => {
    const dir = withFiles(join(FIXTURES, "basic3", "ciabmesh.conf"));
    const fwd = ciab(["zone", "ciabmesh", "mesh.example.com", "--serial", "7"], { cwd: dir });
    expect(fwd.stdout).toContain("node1.mesh.example.com.         300     IN      A       172.20.10.93");
    expect(fwd.stdout).toContain("node1.mesh.example.com.         300     IN      AAAA    2001:db8:42:0:42db:3c2e:1756:ad7e");
    const rev = ciab(["zone", "ciabmesh", "mesh.example.com", "--serial", "7", "--reverse", "ipv4"], { cwd: dir });
    expect(rev.stdout).toContain("93.10.20.172.in-addr.arpa.      300     IN      PTR     node1.mesh.example.com.");
  });

  it("the checker rejects vwgen's combined zone (so this test can fail)", () => {
    const file = join(tempDir(), "vwgen.zone");
    writeFileSync(file, readFileSync(join(FIXTURES, "basic3", "zone.txt")));
    const c = check("mesh.example.com", file);
    expect(c.status).not.toBe(0);
    expect(c.stdout + c.stderr).toMatch(/out of zone|has no NS records/);
    expect(execFileSync("named-checkzone", ["-v"]).toString()).toMatch(/\d/);
  });
});
