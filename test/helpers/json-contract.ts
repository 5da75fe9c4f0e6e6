// The --json contract (README "Machine-readable output"): a command's standard output is exactly one JSON document,
// valid against schema/cli/<command>.v1.json (or error.v1.json). Used by the contract test and the e2e tests that
// run the host and lab commands for real.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { ROOT } from "./env.js";

export const SCHEMA_DIR = join(ROOT, "schema", "cli");

let validators: Map<string, ValidateFunction> | undefined;

/** Every schema file, compiled, by the schema name its documents carry ("ciab/lab-up/v1"). */
export function schemaValidators(): Map<string, ValidateFunction> {
  if (validators) return validators;
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  const compiled = new Map<string, ValidateFunction>();
  for (const f of readdirSync(SCHEMA_DIR)
    .filter((x) => x.endsWith(".v1.json"))
    .sort()) {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, f), "utf8"));
    compiled.set(`ciab/${f.replace(/\.v1\.json$/, "")}/v1`, ajv.compile(schema));
  }
  validators = compiled;
  return compiled;
}

/** The problems of `doc` against the schema it names (empty: valid). */
export function documentProblems(doc: unknown): string[] {
  const name = (doc as { schema?: unknown } | null)?.schema;
  if (typeof name !== "string") return ["the document has no string 'schema'"];
  const v = schemaValidators().get(name);
  if (!v) return [`no schema file for '${name}'`];
  return v(doc) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
}

/** Standard output as the one document of `schema` (throws, naming why, when it is not). */
export function oneDocument(stdout: string, schema: string): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(stdout);
  } catch (e) {
    throw new Error(`standard output is not exactly one JSON document (${(e as Error).message}):\n${stdout.slice(0, 2000)}`);
  }
  if (doc.schema !== schema) throw new Error(`expected schema ${schema}, got ${String(doc.schema)}:\n${stdout.slice(0, 2000)}`);
  const problems = documentProblems(doc);
  if (problems.length) throw new Error(`${schema} document does not match its schema:\n  ${problems.join("\n  ")}\n${stdout.slice(0, 2000)}`);
  return doc;
}
