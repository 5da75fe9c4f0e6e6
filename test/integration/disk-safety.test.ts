// Nothing lost on a failing disk or a hostile file system (issue 9, Build 1, 2, 3, 7), through the real CLI:
// full disks for real (a small tmpfs in a private mount namespace), locks that are not lock files, FIFOs and
// devices where files belong, symlinks, `render` next to things it does not own, EPIPE, options after the command.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT } from "../../src/model/errors.js";
import { ciab, digest, tempDir, withFiles } from "../helpers/cli.js";
import { CLI, FIXTURES, hasTool, isRoot } from "../helpers/env.js";

const BASIC = join(FIXTURES, "basic3", "ciabmesh.conf");
const set = (...a: string[]) => ["set", "ciabmesh", ...a];
const canMount = isRoot && hasTool("unshare") && hasTool("mount");

/** Every file under `dir` (relative path -> sha256), links as "-> target": a whole tree to compare. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else out[relative(dir, p)] = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : `${digest(p)} ${(st.mode & 0o777).toString(8)}`;
    }
  };
  walk(dir);
  return out;
}

const mkfifo = (path: string) => expect(spawnSync("mkfifo", [path]).status).toBe(0);

/** A mesh file of `n` nodes with endpoints (renderable), in a fresh directory. */
function meshDir(n: number, net = "d"): string {
  const dir = tempDir();
  const nodes = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  expect(ciab(["add", net, ...nodes], { cwd: dir }).code).toBe(0);
  const words = nodes.flatMap((name, i) => ["node", name, "endpoint", `198.18.0.${i + 1}:51820`, "listen-port", "51820"]);
  expect(ciab(["set", net, ...words], { cwd: dir }).code).toBe(0);
  return dir;
}

interface Full {
  code: number;
  stderr: string;
  /** The tmpfs's files (as `tree`) after the command, and before it when the script saved them. */
  after: Record<string, string>;
  before: Record<string, string>;
  afterDir: string;
}

/**
 * Run `script` (sh) in a private mount namespace with a tmpfs of `sizeKiB` mounted on $MNT, holding a copy of
 * `seed`'s files. The script runs the command under test as `"$CIAB" ARGS... 2>"$RES/stderr"; echo $? >"$RES/code"`;
 * `snap before` saves $MNT's files; `fill FREE` fills the tmpfs, leaving FREE bytes (whole pages) free.
 * The tmpfs is gone with the namespace; its files are copied out for the assertions (the filler excepted).
 */
function onFullDisk(seed: string, sizeKiB: number, script: string): Full {
  const mnt = tempDir("ciab-tmpfs-");
  const res = tempDir("ciab-res-");
  const sh = `
set -e
mount -t tmpfs -o size=${sizeKiB}k,mode=0755 tmpfs "$MNT"
cp -a "$SEED"/. "$MNT"/
cd "$MNT"
snap() { mkdir -p "$RES/$1"; cp -a "$MNT"/. "$RES/$1"/; rm -f "$RES/$1/.fill"; }
fill() { cat /dev/zero > "$MNT/.fill" 2>/dev/null || true; truncate -s -"$1" "$MNT/.fill"; }
set +e
${script}
rm -f "$MNT/.fill"
snap after
`;
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", sh], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", MNT: mnt, RES: res, SEED: seed, CIAB: `${process.execPath} ${CLI}` },
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const read = (f: string) => (existsSync(join(res, f)) ? readFileSync(join(res, f), "utf8") : "");
  return {
    code: Number(read("code").trim() || -1),
    stderr: read("stderr"),
    after: tree(join(res, "after")),
    before: existsSync(join(res, "before")) ? tree(join(res, "before")) : {},
    afterDir: join(res, "after"),
  };
}

describe.skipIf(!canMount)("a full disk (a 16-64 KiB tmpfs, for real): exit 6 naming ENOSPC, the old file byte-identical, no temp or lock file", () => {
  // 16 nodes make a mesh file of 5-6 KiB: two pages. With two pages free, the lock takes one and the new file gets
  // one: write(2) returns short (4096 bytes), and only the next write says ENOSPC. ciab used to ignore the short
  // write and rename 4096 bytes of broken TOML over the mesh file, exiting 0.
  const seed = meshDir(16);
  const size = statSync(join(seed, "d.conf")).size;

  it("the fixture spans two pages, so the write is short before it fails", () => {
    expect(size).toBeGreaterThan(4096);
    expect(size).toBeLessThanOrEqual(8192);
  });

  it.each([
    ["set", `$CIAB set d vxlan-port 4790`],
    ["set of a node", `$CIAB set d node n1 listen-port 41000`],
    ["add", `$CIAB add d n17`],
  ])("%s", (_name, cmd) => {
    const r = onFullDisk(seed, 16, `snap before; fill 8192; ${cmd} 2>"$RES/stderr"; echo $? >"$RES/code"`);
    expect(r.stderr).toMatch(/cannot write .*d\.conf; it was left unchanged: ENOSPC \(no space left on device\)/);
    expect(r.code).toBe(EXIT.io);
    expect(r.after).toEqual(r.before); // d.conf byte-identical, same mode; no .d.conf.tmp-PID, no d.conf.lock
    expect(Object.keys(r.after)).toEqual(["d.conf"]);
  });

  it("the lock: no space even for the lock file leaves no (empty) lock behind, and the next writer gets in", () => {
    const r = onFullDisk(
      seed,
      32,
      `snap before; fill 0; $CIAB set d vxlan-port 4790 2>"$RES/stderr"; echo $? >"$RES/code"; snap full
       rm -f .fill; $CIAB --lock-timeout 500 set d vxlan-port 4791 2>"$RES/stderr2"; echo $? >"$RES/code2"`,
    );
    expect(r.stderr).toMatch(/cannot create lock file .*d\.conf\.lock .*: ENOSPC \(no space left on device\)/);
    expect(r.code).toBe(EXIT.io);
    const full = tree(join(r.afterDir, "..", "full"));
    expect(full).toEqual(r.before);
    expect(Object.keys(full)).toEqual(["d.conf"]);
    // with space again, nothing blocks the next write (ciab used to leave an empty lock: "locked by pid unknown")
    expect(readFileSync(join(r.afterDir, "..", "code2"), "utf8").trim()).toBe("0");
    expect(readFileSync(join(r.afterDir, "d.conf"), "utf8")).toContain("VxlanPort = 4791");
  });

  // Threads 2: half of the bundles are rendered and written by a worker thread (src/cli/render-bundles.ts).
  it.each(["1", "2"])("render (%s threads): the old bundles stay as they were, no half-written temp directory", (threads) => {
    // The mesh file stays on the real disk (-C); the bundles go to the tmpfs.
    const meshes = meshDir(4);
    const r = onFullDisk(
      tempDir(),
      1024,
      `export CIAB_RENDER_THREADS=${threads}
       $CIAB -C "${meshes}" render d --out "$MNT/out" >/dev/null || exit 9
       $CIAB -C "${meshes}" set d vxlan-port 4790 || exit 9
       snap before; fill 16384; $CIAB -C "${meshes}" render d --out "$MNT/out" 2>"$RES/stderr"; echo $? >"$RES/code"`,
    );
    expect(r.stderr).toMatch(/cannot write the bundles in .*out; existing bundles were left unchanged: ENOSPC \(no space left on device\)/);
    expect(r.code).toBe(EXIT.io);
    expect(Object.keys(r.before).length).toBeGreaterThan(4 * 10);
    expect(r.after).toEqual(r.before);
    expect(readdirSync(join(r.afterDir, "out")).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("zone --out: every zone file stays as it was", () => {
    const meshes = withFiles(join(seed, "d.conf"));
    const r = onFullDisk(
      tempDir(),
      16,
      `$CIAB -C "${meshes}" zone d example.org --serial 1 --out "$MNT" >/dev/null || exit 9
       snap before; fill 0; $CIAB -C "${meshes}" zone d example.org --serial 2 --out "$MNT" 2>"$RES/stderr"; echo $? >"$RES/code"`,
    );
    expect(r.stderr).toMatch(/cannot write .*db\.example\.org; it was left unchanged: ENOSPC \(no space left on device\)/);
    expect(r.code).toBe(EXIT.io);
    expect(Object.keys(r.before).length).toBeGreaterThanOrEqual(2);
    expect(r.after).toEqual(r.before);
  });

  it("render on a read-only mount says EROFS (it said ENOENT)", () => {
    const meshes = withFiles(join(seed, "d.conf"));
    const r = onFullDisk(tempDir(), 64, `mount -o remount,ro "$MNT"; $CIAB -C "${meshes}" render d --out "$MNT/a/b" 2>"$RES/stderr"; echo $? >"$RES/code"`);
    expect(r.stderr).toMatch(/cannot create directory .*\/a: EROFS \(read-only file system\)/);
    expect(r.code).toBe(EXIT.io);
  });
});

describe("the lock file", () => {
  const run = (dir: string, lockTimeout: number) => {
    const t0 = Date.now();
    const r = ciab(["--lock-timeout", String(lockTimeout), ...set("vxlan-port", "4790")], { cwd: dir });
    return { ...r, ms: Date.now() - t0 };
  };

  it.each([
    ["empty (what a full disk left)", ""],
    ["unparsable", "garbage\n"],
    ["a dead process's", `${spawnSync("true").pid}\n`],
  ])("%s lock is stale: taken over", (_n, content) => {
    const dir = withFiles(BASIC);
    const lock = join(dir, "ciabmesh.conf.lock");
    writeFileSync(lock, content);
    utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000)); // not one being created right now
    const r = run(dir, 3000);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "ciabmesh.conf"), "utf8")).toContain("VxlanPort = 4790");
    expect(readdirSync(dir)).toEqual(["ciabmesh.conf"]);
  });

  it.each([
    ["a directory", (p: string) => mkdirSync(p)],
    ["a dangling symlink", (p: string) => symlinkSync("/nonexistent/ciab-lock", p)],
    ["a symlink to a file", (p: string) => symlinkSync(BASIC, p)],
    ["a FIFO", (p: string) => mkfifo(p)],
  ])("a lock path that is %s is an error within --lock-timeout, not a spin or a hang", (_n, make) => {
    const dir = withFiles(BASIC);
    const file = join(dir, "ciabmesh.conf");
    make(`${file}.lock`);
    const before = digest(file);
    const r = run(dir, 2000);
    expect(r.stderr).toMatch(/lock file .*ciabmesh\.conf\.lock is a (directory|symbolic link|FIFO \(named pipe\)), not a regular file/);
    expect(r.code).toBe(EXIT.io);
    expect(r.ms).toBeLessThan(2000 + 3000);
    expect(digest(file)).toBe(before);
  });

  it("waiting for a live holder sleeps (no busy loop)", () => {
    const dir = withFiles(BASIC);
    writeFileSync(join(dir, "ciabmesh.conf.lock"), `${process.pid}\n`);
    // bash's `times` gives the CPU time of the children: ~2 s of waiting must cost well under a second of CPU.
    const r = spawnSync("bash", ["-c", `"${process.execPath}" "${CLI}" --lock-timeout 2000 set ciabmesh vxlan-port 4790 2>/dev/null; echo code=$?; times`], {
      cwd: dir,
      encoding: "utf8",
    });
    expect(r.stdout).toContain(`code=${EXIT.locked}`);
    const m = /\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(r.stdout.trimEnd());
    expect(m, r.stdout).not.toBeNull();
    const [, um, us, sm, ss] = m as RegExpExecArray;
    expect(Number(um) * 60 + Number(us) + Number(sm) * 60 + Number(ss)).toBeLessThan(0.8);
  });

  it("a dead writer's temp file (it may hold private keys) is removed by the next write; a live one's is kept", () => {
    const dir = withFiles(BASIC);
    const dead = join(dir, `.ciabmesh.conf.tmp-${spawnSync("true").pid}`);
    const live = join(dir, `.ciabmesh.conf.tmp-${process.pid}`);
    writeFileSync(dead, "PrivateKey = half a file");
    writeFileSync(live, "being written");
    expect(ciab(set("vxlan-port", "4790"), { cwd: dir }).code).toBe(0);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});

describe("only regular files are read or replaced", () => {
  it("a FIFO as the mesh file is refused at once (it hung)", () => {
    const dir = tempDir();
    mkfifo(join(dir, "p.conf"));
    for (const args of [
      ["show", "p"],
      ["set", "p", "vxlan-port", "4790"],
      ["render", "p"],
    ]) {
      const r = ciab(args, { cwd: dir });
      expect(r.stderr).toMatch(/p\.conf is a FIFO \(named pipe\), not a regular mesh file/);
      expect(r.code).toBe(EXIT.io);
    }
    expect(readdirSync(dir)).toEqual(["p.conf"]);
  });

  it("/dev/zero as the mesh file is refused, never read", () => {
    const dir = tempDir();
    symlinkSync("/dev/zero", join(dir, "z.conf"));
    for (const args of [
      ["show", "z"],
      ["set", "z", "vxlan-port", "4790"],
    ]) {
      const r = ciab(args, { cwd: dir });
      expect(r.stderr).toMatch(/z\.conf is a character device, not a regular mesh file/);
      expect(r.code).toBe(EXIT.io);
    }
  });

  it("a directory as the mesh file is refused by name", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "x.conf"));
    const r = ciab(["set", "x", "vxlan-port", "4790"], { cwd: dir });
    expect(r.stderr).toMatch(/x\.conf is a directory, not a regular mesh file/);
    expect(r.code).toBe(EXIT.io);
  });

  it("private-key <fifo> is refused at once, without leaving the lock behind (it hung holding the lock)", () => {
    const dir = withFiles(BASIC);
    const file = join(dir, "ciabmesh.conf");
    mkfifo(join(dir, "key"));
    const before = digest(file);
    const r = ciab(set("node", "node1", "private-key", "./key"), { cwd: dir });
    expect(r.stderr).toMatch(/nor a readable key file \(not a regular file\)/);
    expect(r.code).toBe(EXIT.invalid);
    expect(digest(file)).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(["ciabmesh.conf", "key"]);
  });

  it.skipIf(!isRoot || !hasTool("unshare"))("a FIFO manifest.json is refused by ciab up --dry-run (it hung)", () => {
    const meshes = meshDir(2);
    expect(ciab(["render", "d", "--out", "out"], { cwd: meshes }).code).toBe(0);
    const bundle = join(meshes, "out", "n1");
    renameSync(join(bundle, "manifest.json"), join(bundle, "manifest.orig"));
    mkfifo(join(bundle, "manifest.json"));
    // Sealed: own PID, mount and network namespaces, throw-away /etc/wireguard, /etc/frr, /run ... (never the host's).
    const mounts = ["/etc/wireguard", "/etc/frr", "/etc/bird", "/run", "/var/log", "/var/tmp"]
      .map((d) => `mkdir -p ${d} 2>/dev/null; mount -t tmpfs tmpfs ${d} 2>/dev/null;`)
      .join(" ");
    const t0 = Date.now();
    const r = spawnSync(
      "timeout",
      [
        "-s",
        "KILL",
        "15",
        "unshare",
        "--fork",
        "--kill-child",
        "--pid",
        "--mount-proc",
        "-m",
        "-n",
        "--propagation",
        "private",
        "sh",
        "-c",
        `${mounts} exec "${process.execPath}" "${CLI}" up --bundle "${bundle}" --dry-run`,
      ],
      { encoding: "utf8", timeout: 20_000 },
    );
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.stderr).toMatch(/manifest\.json is a FIFO \(named pipe\), not a regular file/);
    expect(r.status).toBe(EXIT.io);
  });

  it("a symlinked mesh file: its target is replaced atomically, the link stays a link", () => {
    const dir = withFiles(BASIC);
    mkdirSync(join(dir, "real"));
    renameSync(join(dir, "ciabmesh.conf"), join(dir, "real", "ciabmesh.conf"));
    symlinkSync("real/ciabmesh.conf", join(dir, "ciabmesh.conf"));
    const r = ciab(set("vxlan-port", "4790"), { cwd: dir });
    expect(r.code).toBe(0);
    expect(lstatSync(join(dir, "ciabmesh.conf")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, "ciabmesh.conf"))).toBe("real/ciabmesh.conf");
    expect(readFileSync(join(dir, "real", "ciabmesh.conf"), "utf8")).toContain("VxlanPort = 4790");
    expect(readdirSync(dir).sort()).toEqual(["ciabmesh.conf", "real"]);
    expect(readdirSync(join(dir, "real"))).toEqual(["ciabmesh.conf"]); // temp and lock beside the target, both gone
  });

  it("a dangling symlink as the mesh file is not replaced by a regular file", () => {
    const dir = tempDir();
    symlinkSync("gone/m.conf", join(dir, "m.conf"));
    const r = ciab(["add", "m", "a"], { cwd: dir });
    expect(r.stderr).toMatch(/m\.conf is a symbolic link whose target cannot be resolved/);
    expect(r.code).toBe(EXIT.io);
    expect(lstatSync(join(dir, "m.conf")).isSymbolicLink()).toBe(true);
  });
});

describe("key init", () => {
  it("refuses a network name that escapes --key-dir", () => {
    const dir = tempDir();
    const r = ciab(["key", "init", "../escape", "n1", "--key-dir", "keys"], { cwd: dir });
    expect(r.code).toBe(EXIT.invalid);
    expect(existsSync(join(dir, "escape.key"))).toBe(false);
    expect(readdirSync(dir).filter((n) => n !== "keys")).toEqual([]);
  });

  it("a directory at the key path is an error naming it (it crashed)", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "keys", "m.key"), { recursive: true });
    const r = ciab(["key", "init", "m", "n1", "--key-dir", "keys"], { cwd: dir });
    expect(r.stderr).toMatch(/keys\/m\.key is a directory, not a regular key file/);
    expect(r.code).toBe(EXIT.io);
  });

  it("never follows a symlink at the key path, and never chmods a file it did not create", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "keys"));
    const victim = join(dir, "victim");
    writeFileSync(victim, "not a key\n");
    chmodSync(victim, 0o644);
    symlinkSync(victim, join(dir, "keys", "m.key"));
    const r = ciab(["key", "init", "m", "n1", "--key-dir", "keys"], { cwd: dir });
    expect(r.stderr).toMatch(/m\.key is a symbolic link, not a regular key file/);
    expect(r.code).toBe(EXIT.io);
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    expect(readFileSync(victim, "utf8")).toBe("not a key\n");
    // an existing (user's) key file with loose bits: kept as it is, with a warning
    const mine = tempDir();
    const key = ciab(["genkey"], { cwd: mine }).stdout;
    mkdirSync(join(mine, "keys"));
    writeFileSync(join(mine, "keys", "m.key"), key);
    chmodSync(join(mine, "keys", "m.key"), 0o640);
    const k = ciab(["key", "init", "m", "n1", "--key-dir", "keys"], { cwd: mine });
    expect(k.code).toBe(0);
    expect(k.stderr).toMatch(/m\.key is mode 0640: other users can read this private key/);
    expect(k.stderr).not.toContain(key.trim());
    expect(statSync(join(mine, "keys", "m.key")).mode & 0o777).toBe(0o640);
  });

  it("creates the key file 0600 even under a permissive umask", () => {
    const dir = tempDir();
    const r = spawnSync("sh", ["-c", `umask 000; exec "${process.execPath}" "${CLI}" key init m n1 --key-dir keys`], { cwd: dir, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(statSync(join(dir, "keys", "m.key")).mode & 0o777).toBe(0o600);
  });
});

describe("render touches only what it owns", () => {
  // Such names are no DNS labels: the edit refuses them (schema), and a file that has one anyway (written by hand or
  // by vwgen) is refused by render before anything is written. The bundle writer refuses them too (defence in depth).
  const withNode = (dir: string, node: string) => {
    const file = join(dir, "ciabmesh.conf");
    writeFileSync(file, readFileSync(file, "utf8").replace("[Node.node3]", `[Node."${node}"]`));
  };

  it("a node named mesh.conf rendered with --out . does not touch the mesh file", () => {
    const dir = withFiles(BASIC);
    expect(ciab(["add", "ciabmesh", "mesh.conf"], { cwd: dir }).code).toBe(EXIT.invalid);
    withNode(dir, "mesh.conf");
    cpSync(join(dir, "ciabmesh.conf"), join(dir, "mesh.conf")); // a second mesh file, named like the node
    const before = tree(dir);
    const r = ciab(["render", "ciabmesh", "--out", "."], { cwd: dir });
    expect(r.stderr).toMatch(/mesh\.conf/);
    expect(r.code).not.toBe(0);
    expect(tree(dir)).toEqual(before); // and no node's bundle was written either: all or nothing
  });

  it("a node named like the mesh file itself is refused before anything is written", () => {
    const dir = withFiles(BASIC);
    expect(ciab(["add", "ciabmesh", "ciabmesh.conf"], { cwd: dir }).code).toBe(EXIT.invalid);
    withNode(dir, "ciabmesh.conf");
    const before = tree(dir);
    const r = ciab(["render", "ciabmesh", "--out", "."], { cwd: dir });
    expect(r.stderr).toMatch(/ciabmesh\.conf/);
    expect(r.code).not.toBe(0);
    expect(tree(dir)).toEqual(before);
  });

  it("a user's file inside a bundle directory is neither deleted nor overwritten", () => {
    const dir = withFiles(BASIC);
    expect(ciab(["render", "ciabmesh", "--out", "out"], { cwd: dir }).code).toBe(0);
    writeFileSync(join(dir, "out", "node1", "notes.txt"), "mine\n");
    expect(ciab(set("vxlan-port", "4790"), { cwd: dir }).code).toBe(0);
    const before = tree(join(dir, "out"));
    const r = ciab(["render", "ciabmesh", "--out", "out"], { cwd: dir });
    expect(r.stderr).toMatch(/out\/node1 already exists and it holds files ciab did not write \(notes\.txt\)/);
    expect(r.code).toBe(EXIT.conflict);
    expect(tree(join(dir, "out"))).toEqual(before);
  });

  it("a file, a link or a foreign directory at a node's name is refused by name", () => {
    for (const [what, make] of [
      ["a regular file", (p: string) => writeFileSync(p, "precious\n")],
      ["a symbolic link", (p: string) => symlinkSync("/etc", p)],
      ["a directory without a manifest", (p: string) => mkdirSync(p)],
    ] as const) {
      const dir = withFiles(BASIC);
      mkdirSync(join(dir, "out"));
      make(join(dir, "out", "node2"));
      const before = tree(join(dir, "out"));
      const r = ciab(["render", "ciabmesh", "--out", "out"], { cwd: dir });
      expect(r.stderr, what).toMatch(
        /cannot render node 'node2': .*out\/node2 already exists and it (is a (regular file|symbolic link), not a bundle directory|has no manifest\.json)/,
      );
      expect(r.code).toBe(EXIT.conflict);
      expect(tree(join(dir, "out"))).toEqual(before);
    }
  });

  it("a bundle another network rendered at that name is not replaced", () => {
    const dir = withFiles(BASIC);
    expect(ciab(["render", "ciabmesh", "--out", "out"], { cwd: dir }).code).toBe(0);
    cpSync(join(dir, "ciabmesh.conf"), join(dir, "other.conf"));
    const before = tree(join(dir, "out"));
    const r = ciab(["render", "other", "--out", "out"], { cwd: dir });
    expect(r.stderr).toMatch(/manifest\.json says it is node 'node1' of network 'ciabmesh', not node 'node1' of 'other'/);
    expect(r.code).toBe(EXIT.conflict);
    expect(tree(join(dir, "out"))).toEqual(before);
  });

  it("the bundle of a deleted node is kept, with a warning, when it holds a user's file", () => {
    const dir = withFiles(BASIC);
    expect(ciab(["render", "ciabmesh", "--out", "out"], { cwd: dir }).code).toBe(0);
    writeFileSync(join(dir, "out", "node3", "notes.txt"), "mine\n");
    expect(ciab(["del", "ciabmesh", "node3"], { cwd: dir }).code).toBe(0);
    const r = ciab(["render", "ciabmesh", "--out", "out"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/kept .*out\/node3 \(node 'node3' is no longer in the mesh, but it holds files ciab did not write \(notes\.txt\)\)/);
    expect(readFileSync(join(dir, "out", "node3", "notes.txt"), "utf8")).toBe("mine\n");
  });

  it.each([
    ["an existing file", "file", EXIT.conflict, /--out .*\/file is a regular file, not a directory/],
    ["the empty string", "", EXIT.invalid, /--out: the output directory must not be empty/],
    ["on /proc", "/proc/ciab-x", EXIT.invalid, /--out \/proc\/ciab-x is on the proc pseudo file system/],
    ["on /sys", "/sys/ciab-x", EXIT.invalid, /--out \/sys\/ciab-x is on the sysfs pseudo file system/],
  ])("--out %s is refused (it crashed, spun or rendered into the mesh directory)", (_n, outArg, code, message) => {
    const dir = withFiles(BASIC);
    writeFileSync(join(dir, "file"), "precious\n");
    const before = tree(dir);
    const t0 = Date.now();
    const r = ciab(["render", "ciabmesh", "--out", outArg], { cwd: dir });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(code);
    expect(tree(dir)).toEqual(before);
  });
});

describe("clean edges", () => {
  it("EPIPE on standard output: quiet, exit 0 (ciab show big | head -1)", () => {
    const dir = tempDir();
    expect(ciab(["add", "big", ...Array.from({ length: 150 }, (_, i) => `n${i}`)], { cwd: dir }).code).toBe(0);
    for (const args of ["show big", "show big --json", "showconf big n1", "show big --show-keys"]) {
      const r = spawnSync("bash", ["-c", `"${process.execPath}" "${CLI}" ${args} | head -c 10 >/dev/null; echo "ciab=\${PIPESTATUS[0]}" >&2`], {
        cwd: dir,
        encoding: "utf8",
      });
      expect(r.stderr, args).toBe("ciab=0\n");
    }
  });

  it("the common options are accepted after the command and its arguments", () => {
    const dir = withFiles(BASIC);
    const other = tempDir();
    const file = join(dir, "ciabmesh.conf");
    const s = ciab(["set", "ciabmesh", "vxlan-port", "4790", "-C", dir, "--lock-timeout", "300", "--json", "--debug"], { cwd: other });
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ ok: true, changed: true });
    expect(readFileSync(file, "utf8")).toContain("VxlanPort = 4790");
    expect(ciab(["set", "ciabmesh", "vxlan-port", "4791", `--dir=${dir}`, "--lock-timeout=300"], { cwd: other }).code).toBe(0);
    expect(readFileSync(file, "utf8")).toContain("VxlanPort = 4791");
    // --lock-timeout after the directives is honoured (a live holder: gives up after 300 ms, not 10 s)
    writeFileSync(`${file}.lock`, `${process.pid}\n`);
    const t0 = Date.now();
    const l = ciab(["set", "ciabmesh", "vxlan-port", "4792", "-C", dir, "--lock-timeout", "300"], { cwd: other });
    expect(l.code).toBe(EXIT.locked);
    expect(Date.now() - t0).toBeLessThan(5000);
    const sh = ciab(["show", "ciabmesh", "--json", "-C", dir], { cwd: other });
    expect(JSON.parse(sh.stdout).networks[0].nodes).toHaveLength(3);
    const r = ciab(["render", "ciabmesh", "--out", "b", "-C", dir, "--json"], { cwd: other });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
  });
});
