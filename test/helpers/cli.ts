// Runs the built CLI as a user would, in a directory of the test's own.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { CLI } from "./env.js";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function ciab(args: string[], opts: { cwd: string; input?: string; env?: Record<string, string> }): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    input: opts.input ?? "",
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    timeout: 30_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(prefix = "ciab-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A temp dir holding copies of the given files. */
export function withFiles(...files: string[]): string {
  const dir = tempDir();
  for (const f of files) {
    copyFileSync(f, join(dir, basename(f)));
    chmodSync(join(dir, basename(f)), 0o600); // the shared fixtures are read-only
  }
  return dir;
}

export const digest = (path: string): string => {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return "absent";
  }
};
