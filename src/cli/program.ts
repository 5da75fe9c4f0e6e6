// The command tree of `ciab` (and `vwgen`): every command with the common options, and the name of the command
// that runs (for its JSON document's schema) or whose usage error commander reports. main.ts runs it.
import { Command, type CommanderError } from "commander";
import { CiabError } from "../model/errors.js";
import { registerCompletion } from "./completion.js";
import { VERSION } from "./context.js";
import { registerFleetCommands } from "./fleet-commands.js";
import { registerHostCommands } from "./host-commands.js";
import { registerLabCommands } from "./lab-commands.js";
import { registerMeshCommands } from "./mesh-commands.js";
import { errorDocument, setJsonCommand } from "./output.js";
import { registerRenderCommands } from "./render-commands.js";

/**
 * Help goes to standard output, exit 0, also when a command group is called without its subcommand (`ciab lab`):
 * commander writes that help to standard error. Usage errors still go to standard error (program.ts `common`).
 */
class HelpOnStdout extends Command {
  override createCommand(name?: string): Command {
    return new HelpOnStdout(name);
  }
  // commander calls help({ error: true }) for a group without its subcommand; without the argument it is stdout, exit 0
  override help(): never {
    return super.help();
  }
}

export function buildProgram(name = "ciab"): Command {
  const program = new HelpOnStdout(name)
    .description("Build and operate an encrypted WireGuard + VXLAN full mesh with BGP/OSPF between Linux hosts (vwgen-compatible)")
    .version(VERSION)
    .enablePositionalOptions();
  registerMeshCommands(program);
  registerRenderCommands(program);
  registerLabCommands(program);
  registerHostCommands(program);
  registerFleetCommands(program);
  registerCompletion(program);
  // The common options are accepted before and after the command name (`ciab --json show x`, `ciab show x --json`).
  const common = (c: Command): void => {
    const has = (flag: string) => c.options.some((o) => o.long === flag);
    if (!has("--dir")) c.option("-C, --dir <dir>", "directory that holds the mesh files (default: $CIAB_DIR or the current directory)");
    if (!has("--json")) c.option("--json", "machine-readable output");
    if (!has("--debug")) c.option("--debug", "stack traces on errors");
    // Taken out of the command line before commander parses it (output.ts takeOutputFlags), so that the fast path
    // (fast.ts) reads them the same way; declared here for --help, completion and the README check.
    if (!has("--quiet")) {
      c.option("-q, --quiet", "errors only: no warnings, notes, summaries or progress (exit codes unchanged)");
      c.option("-v, --verbose", "more detail (render: a line per bundle; lab up: every phase)");
      c.option("--color [when]", "auto (a terminal, unless $NO_COLOR is set), always (also bare --color), never; give it as --color=WHEN");
    }
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
    // A usage error: the message and one hint line on standard error, exit 2 (README "Exit codes").
    c.showHelpAfterError(`  hint: '${[name, ...commandPath(c)].join(" ")} --help' shows the usage`);
    // A usage error (unknown option, missing argument) names the command it came from, for its --json document.
    c.configureOutput({
      outputError: (text, write) => {
        usageOf = c;
        write(text);
      },
    });
    for (const sub of c.commands) common(sub);
  };
  common(program);
  // The document's schema names the command that runs: `ciab/lab-up/v1` for `ciab lab up`.
  program.hook("preAction", (_root, action) => setJsonCommand(commandPath(action).join("-")));
  return program;
}

/** The words of a command below the program: ["lab", "up"] for `ciab lab up`. */
export function commandPath(c: Command): string[] {
  const words: string[] = [];
  for (let x: Command | null = c; x?.parent; x = x.parent) words.unshift(x.name());
  return words;
}

/** The command whose parsing failed last (commander reports its usage errors through configureOutput). */
let usageOf: Command | undefined;

/** A usage error of commander's as ciab's error document (same exit code 2; the text went to stderr already). */
export function usageDocument(e: CommanderError, name: string): Record<string, unknown> {
  const words = usageOf ? commandPath(usageOf) : [];
  const where = [name, ...words].join(" ");
  return errorDocument(new CiabError("usage", e.message.replace(/^error: /, ""), { hint: `'${where} --help' shows the usage` }));
}
