// Entry point of the `ciab` (and `vwgen`) command: builds the command tree, runs it, maps errors to exit codes.
import { Command, CommanderError } from "commander";
import { VERSION } from "./context.js";
import { registerFleetCommands } from "./fleet-commands.js";
import { registerHostCommands } from "./host-commands.js";
import { registerLabCommands } from "./lab-commands.js";
import { registerMeshCommands } from "./mesh-commands.js";
import { guardStreams, reportError } from "./output.js";
import { registerRenderCommands } from "./render-commands.js";

export function buildProgram(name = "ciab"): Command {
  const program = new Command(name)
    .description("Build and operate an encrypted WireGuard + VXLAN full mesh with BGP/OSPF between Linux hosts (vwgen-compatible)")
    .version(VERSION)
    .enablePositionalOptions()
    .showHelpAfterError();
  registerMeshCommands(program);
  registerRenderCommands(program);
  registerLabCommands(program);
  registerHostCommands(program);
  registerFleetCommands(program);
  // The common options are accepted before and after the command name (`ciab --json show x`, `ciab show x --json`).
  const common = (c: Command): void => {
    const has = (flag: string) => c.options.some((o) => o.long === flag);
    if (!has("--dir")) c.option("-C, --dir <dir>", "directory that holds the mesh files (default: $CIAB_DIR or the current directory)");
    if (!has("--json")) c.option("--json", "machine-readable output");
    if (!has("--debug")) c.option("--debug", "stack traces on errors");
    if (!has("--lock-timeout")) c.option("--lock-timeout <ms>", "how long to wait for another writer of the mesh file");
    if (!has("--registry")) {
      c.option(
        "--registry <url>",
        "where the mesh lives: a directory, or etcd://HOST:PORT[,HOST:PORT]/PREFIX (etcds:// with TLS); default $CIAB_REGISTRY, else --dir",
      );
      c.option("--registry-user <name>", "etcd user (password: $CIAB_REGISTRY_PASSWORD or --registry-password-file)");
      c.option("--registry-password-file <file>", "file holding the etcd user's password");
      c.option("--registry-ca <pem>", "CA of etcd's TLS certificate (default: $NODE_EXTRA_CA_CERTS)");
      c.option("--registry-cert <pem>", "client certificate for etcd");
      c.option("--registry-key <pem>", "client key for etcd");
    }
    c.exitOverride();
    for (const sub of c.commands) common(sub);
  };
  common(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const name = /vwgen$/.test(argv[1] ?? "") ? "vwgen" : "ciab";
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
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help" ? 0 : 2;
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
