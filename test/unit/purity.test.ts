// model/, ipam/, render/ and plan/ do no I/O (DESIGN §3): they import no file, process or network module.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/env.js";

const PURE = ["src/model", "src/ipam", "src/nat", "src/render", "src/plan"];
const FORBIDDEN = /from\s+"(node:)?(fs|fs\/promises|child_process|net|http|https|dgram|os)"/;

const files = (dir: string): string[] => {
  try {
    return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith(".ts") ? [join(dir, f)] : []));
  } catch {
    return [];
  }
};

describe("pure modules", () => {
  it.each(PURE.flatMap((d) => files(join(ROOT, d))).map((f) => relative(ROOT, f)))("%s imports no I/O module", (f) => {
    expect(readFileSync(join(ROOT, f), "utf8")).not.toMatch(FORBIDDEN);
  });
  it("the check itself catches an I/O import", () => expect('import { readFileSync } from "node:fs";').toMatch(FORBIDDEN));
});
