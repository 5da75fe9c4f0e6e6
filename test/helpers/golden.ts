// Golden files: compare a rendered text with test/golden/<rel>, or (re)write it when UPDATE_GOLDEN=1.
// Review every diff of a golden file as a change of behaviour.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { expect } from "vitest";
import { ROOT } from "./env.js";

export const GOLDEN_DIR = join(ROOT, "test", "golden");

export function expectGolden(rel: string, actual: string): void {
  const file = join(GOLDEN_DIR, rel);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, "utf8");
  } catch {
    throw new Error(`golden file ${rel} is missing; run with UPDATE_GOLDEN=1 and review it`);
  }
  expect(actual, `golden ${rel} (UPDATE_GOLDEN=1 rewrites it)`).toBe(expected);
}
