// Entry point of the `ciab` (and `vwgen`) command: builds the command tree (program.ts), runs it, maps errors to
// exit codes.
import { CommanderError } from "commander";
import { EXIT } from "../model/errors.js";
import { guardStreams, out, reportError, takeOutputFlags } from "./output.js";
import { buildProgram, usageDocument } from "./program.js";

export { buildProgram } from "./program.js";

export async function main(all: string[]): Promise<number> {
  const name = /vwgen$/.test(all[1] ?? "") ? "vwgen" : "ciab";
  let argv: string[];
  try {
    argv = [...all.slice(0, 2), ...takeOutputFlags(all.slice(2))];
  } catch (e) {
    return reportError(e, { debug: false, json: all.includes("--json") });
  }
  const program = buildProgram(name);
  // No command: the usage on standard output, exit 0 (vwgen's `vwgen` alone; commander would write it to stderr).
  if (argv.length <= 2) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(argv);
    // A command whose result is a verdict (status, doctor, lab exec) sets process.exitCode itself.
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not errors; commander already printed its message for the rest
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      if (argv.slice(2).includes("--json")) out(JSON.stringify(usageDocument(e, name), null, 2));
      return EXIT.usage;
    }
    const raw = argv.slice(2);
    return reportError(e, { debug: raw.includes("--debug"), json: raw.includes("--json") });
  }
}

guardStreams();

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.exitCode = reportError(e, { debug: true, json: false });
  },
);
