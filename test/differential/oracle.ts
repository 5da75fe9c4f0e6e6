// The differential tier's two programs side by side: the real vwgen (../shared/oracles/vwgen, unmodified) and the
// built ciab CLI, each run as a process in a directory of the test's own, plus the normalisations of the documented
// differences (README "Differences from vwgen"). Every normalisation is named and explained here: anything else that
// differs is a finding.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { contains, parseAddr, parsePrefix } from "../../src/ipam/ip.js";
import { CLI, SHARED } from "../helpers/env.js";

export const ORACLE = join(SHARED, "oracles", "vwgen", "vwgen-oracle");
/** Another build of ciab to compare (e.g. a branch's dist/ciab.mjs); default: this tree's. */
export const CIAB_CLI = process.env.CIAB_DIFF_CLI ?? CLI;

/** Why the oracle cannot run here (the test skips), or undefined when it can. */
export function oracleMissing(): string | undefined {
  if (!existsSync(ORACLE)) return `no oracle at ${ORACLE}`;
  const r = spawnSync("/usr/bin/python3", ["-c", "import toml, nacl.bindings"], { encoding: "utf8" });
  if (r.status !== 0) return "the oracle needs Debian's python3-toml and python3-nacl (scripts/install-deps.sh installs them)";
  return undefined;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Two processes at a time at most: the machines have 2 cores and are shared.
const SLOTS = Math.max(1, Math.min(2, availableParallelism()));
let busy = 0;
const waiting: (() => void)[] = [];

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done, fail) => {
    const start = () => {
      busy++;
      const p = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      p.stdout.on("data", (b: Buffer) => out.push(b));
      p.stderr.on("data", (b: Buffer) => err.push(b));
      const timer = setTimeout(() => p.kill("SIGKILL"), 15_000); // our own child, by its handle
      p.on("error", fail);
      p.on("close", (code) => {
        clearTimeout(timer);
        busy--;
        waiting.shift()?.();
        done({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
      });
    };
    if (busy < SLOTS) start();
    else waiting.push(start);
  });
}

const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.CIAB_DIR;
  delete env.CIAB_INSECURE_TEST_SEED;
  return env;
};

export const vwgen = (args: string[], cwd: string): Promise<Run> => run(ORACLE, args, cwd, baseEnv());
export const ciab = (args: string[], cwd: string): Promise<Run> => run(process.execPath, [CIAB_CLI, ...args], cwd, baseEnv());

/** vwgen exits 0 even on errors (README "Differences"); its messages start with "vwgen:" or are a traceback. */
export const vwgenFailed = (r: Run): boolean => /^vwgen: |^Traceback /m.test(r.stdout + r.stderr);

// --- normalisations of documented differences --------------------------------------------------------------

/**
 * vwgen's mangled IPv6 endpoints: `set endpoint '[v6]:port'` stored `[[v6]:port]:<listen port>`, and `'[v6]'` (no
 * port) stored `[v6]<listen port>`; ciab repairs both (not `[v6]0`: listen port 0 gives no port to repair it with) on load and stores the repaired value with its next write
 * (README "Coming from vwgen").
 */
export const repairMangled = (s: string): string =>
  s.replace(/\[\[([0-9A-Fa-f:.]+)\]:(\d+)\]:\d+/g, "[$1]:$2").replace(/\[([0-9A-Fa-f:.]+)\]([1-9]\d*)/g, "[$1]:$2");

/** vwgen prints FwMark in hex without 0x (wg(8) reads it as decimal or refuses it); ciab prints `0x1a`. */
const fwmarkHex = (s: string): string => s.replace(/^(FwMark = | {2}(?:\x1b\[1m)?fwmark:(?:\x1b\[0m)? )([0-9a-f]+)$/gm, "$10x$2");

/** `show` as vwgen prints it, with the documented differences applied. */
export const normaliseVwgenShow = (s: string): string => fwmarkHex(repairMangled(s));

/**
 * The keepalive rule differs on purpose (README): vwgen prints, on a peer whose own PersistentKeepalive is non-zero,
 * the *local* node's value; ciab prints the local node's value on every peer when the local value is non-zero.
 * vwgen's lines are dropped; ciab's are checked against its documented rule here and then dropped too, so the rest
 * of the file compares line for line. Returns the text without keepalive lines, or throws naming the broken rule.
 */
export function dropKeepalives(text: string, localKeepalive: number, who: "vwgen" | "ciab"): string {
  const lines = text.split("\n");
  if (who === "ciab") {
    const peers = lines.filter((l) => /^#?\[Peer\]$/.test(l)).length;
    const kept = lines.filter((l) => /^#?PersistentKeepalive = /.test(l));
    const want = localKeepalive === 0 ? 0 : peers;
    const wrong = kept.filter((l) => l.replace(/^#?PersistentKeepalive = /, "") !== String(localKeepalive));
    if (kept.length !== want || wrong.length) {
      throw new Error(`ciab's keepalive lines break its documented rule (local value ${localKeepalive} on each of ${peers} peers): ${JSON.stringify(kept)}`);
    }
  }
  return lines.filter((l) => !/^#?PersistentKeepalive = /.test(l)).join("\n");
}

export const normaliseVwgenShowconf = (s: string): string => fwmarkHex(repairMangled(s));

/**
 * What the named nodes add to another node's showconf taken out: their `[Peer]` blocks (comment line to the blank
 * line after it) and the flooding entry towards their VTEP (`PostUp = bridge fdb append … dst VTEP via %i`).
 */
export function withoutPeers(text: string, names: Set<string>, vteps: Set<string>): string {
  const out: string[] = [];
  let skipping = false;
  for (const line of text.split("\n")) {
    const m = /^#?# Peer node (.*)$/.exec(line);
    if (m) skipping = names.has(m[1] as string);
    const fdb = / dst (\S+) via %i$/.exec(line);
    if (!skipping && !(fdb && vteps.has(fdb[1] as string))) out.push(line);
    if (skipping && line === "") skipping = false;
  }
  return out.join("\n");
}

// --- zones ---------------------------------------------------------------------------------------------------

const SOA_SERIAL = /( IN {6}SOA {5}\S+ \S+ )\d+ /;

/**
 * vwgen prints one zone holding SOA, A, AAAA and every PTR record; ciab prints a forward zone (SOA, NS, A, AAAA)
 * and one reverse zone per pool (README: "separate forward and reverse zones, NS records, --serial"). Compared:
 * vwgen's forward part (its PTR lines taken out) with ciab's forward zone (its NS line taken out), SOA serials
 * equalised; vwgen's PTR lines, in order, with the PTR lines of ciab's IPv4 then IPv6 reverse zones.
 */
export function splitVwgenZone(text: string): { forward: string; ptr: string[] } {
  const lines = text.split("\n");
  return {
    forward: lines
      .filter((l) => !/ IN {6}PTR /.test(l))
      .map((l) => l.replace(SOA_SERIAL, "$1SERIAL ").replace(/^;; Generated by VxWireguard-Generator$/, ";; Generated by <tool>"))
      .join("\n"),
    ptr: lines.filter((l) => / IN {6}PTR /.test(l)),
  };
}

export function ciabForward(text: string): string {
  return text
    .split("\n")
    .filter((l) => !/ IN {6}NS {6}/.test(l))
    .map((l) => l.replace(SOA_SERIAL, "$1SERIAL ").replace(/^;; Generated by ciab-mesh$/, ";; Generated by <tool>"))
    .join("\n");
}

export const ptrLines = (text: string): string[] => text.split("\n").filter((l) => / IN {6}PTR /.test(l));

/** The address a PTR line's owner name stands for (in-addr.arpa or ip6.arpa nibbles), as text. */
function ptrAddress(line: string): string | undefined {
  const owner = line.split(/\s+/)[0] ?? "";
  const v4 = /^((?:\d+\.){4})in-addr\.arpa\.$/.exec(owner);
  if (v4) return (v4[1] as string).slice(0, -1).split(".").reverse().join(".");
  const v6 = /^((?:[0-9a-f]\.){32})ip6\.arpa\.$/.exec(owner);
  if (!v6) return undefined;
  const hex = (v6[1] as string).replaceAll(".", "").split("").reverse().join("");
  return hex.match(/.{4}/g)?.join(":");
}

/**
 * README (vwgen section): ciab writes a PTR record only inside the reverse zone of its pool, where vwgen lists every
 * address. vwgen's PTR lines of addresses outside the pools are taken out before comparing.
 */
export function insidePools(lines: string[], pools: string[]): string[] {
  const ps = pools.map((p) => parsePrefix(p));
  return lines.filter((l) => {
    const a = ptrAddress(l);
    if (a === undefined) return true;
    const { family, addr } = parseAddr(a);
    return ps.some((p) => contains(p, { family, addr, len: family === 4 ? 32 : 128 }));
  });
}
