// The edges of `key init` and `set … private-key` (src/cli): bad key directories and key files get an I/O or
// invalid-value error, never the internal-bug code; a mistyped key is never echoed; a FIFO never blocks.
// Found by the property tier (test/property).
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT } from "../../src/model/errors.js";
import { ciab, digest, tempDir, withFiles } from "../helpers/cli.js";
import { FIXTURES } from "../helpers/env.js";

const BASIC = join(FIXTURES, "basic3", "ciabmesh.conf");
const KEY = "8IAwa1Q70d1sjnefunzxYCB2mh3c3f8jcUQnJdKKEEM=";
/** node2's key: it has "+" characters, so its base64url form differs. */
const KEY2 = "qMqhUxGu+Xo5EBxjlEQjdotj+6m95RmTyeGRLIVbAXQ=";

describe("key init edges", () => {
  it("--key-dir that is a file: an I/O error naming it", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "plain"), "x");
    const r = ciab(["key", "init", "m", "n1", "--key-dir", "plain"], { cwd: dir });
    expect(r.code).toBe(EXIT.io);
    expect(r.stderr).toMatch(/cannot create directory \S*\/plain: \S*\/plain is a regular file, not a directory/);
    expect(r.stderr).not.toMatch(/bug in ciab/);
  });

  it("a key path that is a directory: an I/O error, not a crash", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "keys", "m.key"), { recursive: true });
    const r = ciab(["key", "init", "m", "n1", "--key-dir", "keys"], { cwd: dir });
    expect(r.code).toBe(EXIT.io);
    expect(r.stderr).toMatch(/keys\/m\.key is a directory, not a regular key file/);
  });

  it("a network name with a path in it is refused; nothing is written outside --key-dir", () => {
    const dir = tempDir();
    const r = ciab(["key", "init", "../escape", "n1", "--key-dir", "keys"], { cwd: dir });
    expect(r.code).toBe(EXIT.invalid);
    expect(r.stderr).toMatch(/network name is empty or/);
    expect(existsSync(join(dir, "escape.key"))).toBe(false);
  });

  it("an existing key file keeps its mode (a warning when others can read it)", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "keys"));
    writeFileSync(join(dir, "keys", "m.key"), `${KEY}\n`);
    chmodSync(join(dir, "keys", "m.key"), 0o640);
    const r = ciab(["key", "init", "m", "n1", "--key-dir", "keys"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(statSync(join(dir, "keys", "m.key")).mode & 0o777).toBe(0o640);
    expect(r.stderr).toMatch(/m\.key is mode 0640: other users can read this private key/);
    expect(r.stdout + r.stderr).not.toContain(KEY);
  });
});

describe("set private-key edges", () => {
  it.each([
    ["without padding", KEY2.replace(/=$/, "")],
    ["base64url", KEY2.replace(/\+/g, "-").replace(/\//g, "_")],
    ["truncated", `${KEY2.slice(0, 40)}=`],
  ])("a mistyped key (%s) is not echoed, in text or --json", (_name, bad) => {
    const dir = withFiles(BASIC);
    const before = digest(join(dir, "ciabmesh.conf"));
    for (const extra of [[], ["--json"]]) {
      const r = ciab(["set", "ciabmesh", "node", "node1", "private-key", bad, ...extra], { cwd: dir });
      expect(r.code).toBe(EXIT.invalid);
      expect(r.stderr).toMatch(/private-key of node 'node1' is neither a valid WireGuard key \(got \d+ characters/);
      expect(r.stdout + r.stderr).not.toContain(bad.slice(0, 16));
    }
    expect(digest(join(dir, "ciabmesh.conf"))).toBe(before);
  });

  it("a FIFO as the key file does not block", () => {
    const dir = withFiles(BASIC);
    execFileSync("mkfifo", [join(dir, "fifo")]);
    const t0 = Date.now();
    const r = ciab(["set", "ciabmesh", "node", "node1", "private-key", "fifo"], { cwd: dir });
    expect(r.code).toBe(EXIT.invalid);
    expect(r.stderr).toMatch(/not a regular file/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(readFileSync(join(dir, "ciabmesh.conf"), "utf8")).toContain(KEY);
  });
});
