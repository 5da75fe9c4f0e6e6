// Property tier, hostile documents: a valid vwgen/ciab mesh file, mutated (wrong types, truncations, byte flips,
// control characters, special-purpose addresses, hostile names, invalid UTF-8, duplicated tables, mistyped keys; at
// most two, sometimes none, so that commands also get past the loader),
// then an ordinary command that reads or edits it. The invariants are in harness.ts.
import fc from "fast-check";
import { describe, it } from "vitest";
import { applyMutations, baseArb, caseFiles, docCommand, mutationArb } from "./arbitraries.js";
import { checkProperty, runs, SEED, TEST_TIMEOUT_MS } from "./harness.js";

const hostileDoc = baseArb.chain((b) =>
  fc.record({ base: fc.constant(b), mutations: fc.array(mutationArb, { minLength: 0, maxLength: 2 }), argv: docCommand(b) }),
);

const READS = new Set(["show", "showconf", "render", "zone", "key"]);

describe.concurrent(`property: hostile mesh documents (seed ${SEED})`, () => {
  for (const [what, reads] of [
    ["read commands (show, showconf, render, zone, key init)", true],
    ["edit commands (set, add, del, blacklist)", false],
  ] as const) {
    it(
      what,
      async () => {
        const arb = hostileDoc.filter((v) => READS.has(v.argv[0] as string) === reads);
        await checkProperty(
          arb,
          ({ base, mutations, argv }) => {
            const doc = applyMutations(base, mutations);
            return { meshFile: `${base.name}.conf`, mesh: doc.bytes, argv, files: caseFiles(base), secrets: [...base.secrets, ...doc.secrets] };
          },
          runs(50),
        );
      },
      TEST_TIMEOUT_MS,
    );
  }
});
