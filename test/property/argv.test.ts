// Property tier, hostile argument vectors: a valid mesh file, then `set` with every directive and
// `add`, `del`, `blacklist`, `zone`, `show`, `showconf`, `render`, `key init` with hostile names, values, paths and
// options. The invariants are in harness.ts.
import fc from "fast-check";
import { describe, it } from "vitest";
import { ARGV_SECRETS, type Base, baseArb, caseFiles, otherArgv, setArgv } from "./arbitraries.js";
import { checkProperty, runs, SEED, TEST_TIMEOUT_MS } from "./harness.js";

const withArgv = (gen: (b: Base) => fc.Arbitrary<string[]>) => baseArb.chain((b) => fc.record({ base: fc.constant(b), argv: gen(b) }));

describe.concurrent(`property: hostile argument vectors (seed ${SEED})`, () => {
  for (const [what, gen, n] of [
    ["set, every directive", setArgv, 50],
    ["add, del, blacklist, zone, show, showconf, render, key init", otherArgv, 60],
  ] as const) {
    it(
      what,
      async () => {
        await checkProperty(
          withArgv(gen),
          ({ base, argv }) => ({
            meshFile: `${base.name}.conf`,
            mesh: Buffer.from(base.text),
            argv,
            files: caseFiles(base),
            secrets: [...base.secrets, ...ARGV_SECRETS],
          }),
          runs(n),
        );
      },
      TEST_TIMEOUT_MS,
    );
  }
});
