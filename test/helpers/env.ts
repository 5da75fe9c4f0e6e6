// Shared test helpers: who we are, which real tools exist, paths.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SHARED = join(ROOT, "..", "shared");
export const FIXTURES = join(SHARED, "fixtures", "vwgen");
export const CLI = join(ROOT, "dist", "ciab.mjs");

export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

export function hasTool(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
