// Shell completion (issue 18 part 4): `ciab completion bash|zsh|fish` prints a script; the script calls the hidden
// `ciab __complete CWORD WORD...` on every <Tab>, which answers from the live command tree (buildProgram(), so the
// commands and options cannot drift from the CLI), `set`'s directive table, the mesh files of the directory
// (networks) and the network's file (node names). `completions` is pure over what it is given; the command's
// action does the reading (never a warning or an error on the terminal: a broken file completes nothing).
import { readdirSync } from "node:fs";
import type { Command, Option } from "commander";
import { readRegularText } from "../adapters/files.js";
import { SET_DIRECTIVES, setArity } from "../model/edit.js";
import { usage } from "../model/errors.js";
import { parseToml } from "../model/toml.js";
import { meshRef } from "../registry/file.js";
import { globals } from "./context.js";
import { json, out } from "./output.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** A command users see: commander's hidden ones (`__complete`) are left out of completion and of the README check. */
export const isHidden = (c: Command): boolean => (c as unknown as { _hidden?: boolean })._hidden === true;
export const visibleCommands = (c: Command): Command[] => c.commands.filter((s) => !isHidden(s));

/** What completion needs to know beyond the command tree: the networks, and a network's node names. */
export interface CompletionSource {
  networks(dir: string | undefined): string[];
  nodes(dir: string | undefined, network: string): string[];
}

const findOption = (c: Command, word: string): Option | undefined => {
  const flag = word.includes("=") ? word.slice(0, word.indexOf("=")) : word;
  for (let x: Command | null = c; x; x = x.parent) {
    const o = x.options.find((o) => o.long === flag || o.short === flag);
    if (o) return o;
  }
  return undefined;
};

/** The role of a positional argument, by its name in the command's definition. */
function argumentRole(c: Command, index: number): string | undefined {
  const args = c.registeredArguments;
  const last = args[args.length - 1];
  const a = index < args.length ? args[index] : last?.variadic ? last : undefined;
  return a?.name();
}

/** `set NET …`: after `node`, a node name; after a directive that takes a value, the value; else a directive. */
function setState(words: string[]): "directive" | "node" | "value" {
  let state: "directive" | "node" | "value" = "directive";
  for (const w of words) {
    if (state !== "directive") state = "directive";
    else if (w === "node") state = "node";
    else if (setArity(w) === 1) state = "value";
  }
  return state;
}

/**
 * The candidates for word `cword` of `words` (words[0] is the program's name), those starting with what is typed.
 * Commands and options come from `program`'s tree; networks and nodes from `source`.
 */
export function completions(program: Command, words: string[], cword: number, source: CompletionSource): string[] {
  const typed = words[cword] ?? "";
  let cmd = program;
  const positionals: string[] = [];
  let dir: string | undefined;
  let pendingValue: Option | undefined;
  for (let i = 1; i < cword; i++) {
    const w = words[i] as string;
    if (pendingValue) {
      if (pendingValue.long === "--dir" || (pendingValue.long === "--registry" && !w.includes("://"))) dir = w;
      pendingValue = undefined;
    } else if (w.startsWith("-") && w !== "-") {
      const o = findOption(cmd, w);
      if (o?.long === "--dir" && w.includes("=")) dir = w.slice(w.indexOf("=") + 1);
      if (o?.required && !w.includes("=")) pendingValue = o;
    } else {
      const sub = positionals.length === 0 ? visibleCommands(cmd).find((s) => s.name() === w || s.aliases().includes(w)) : undefined;
      if (sub) cmd = sub;
      else positionals.push(w);
    }
  }
  const starting = (xs: string[]) => [...new Set(xs)].filter((x) => x.startsWith(typed));
  if (pendingValue) return []; // an option's value (a directory, a file, a number): the shell's own file completion
  if (typed.startsWith("-")) {
    const flags: string[] = [];
    for (let x: Command | null = cmd; x; x = x.parent)
      for (const o of x.options) if (!o.hidden) flags.push(...[o.long, o.short].filter((f): f is string => !!f));
    return starting([...flags, "--help"]).sort();
  }
  if (positionals.length === 0 && visibleCommands(cmd).length) return starting(visibleCommands(cmd).map((s) => s.name()));
  const net = positionals[0];
  const role = argumentRole(cmd, positionals.length);
  if (role === "directives") {
    const state = setState(positionals.slice(1));
    if (state === "node") return starting(net ? source.nodes(dir, net) : []);
    return state === "value" ? [] : starting(["node", ...SET_DIRECTIVES]);
  }
  if (role === "network" || role === "networks") return starting(source.networks(dir));
  if (role === "node" || role === "nodes" || role === "left" || role === "right") return starting(net ? source.nodes(dir, net) : []);
  if (role === "operation") return starting(["add", "del"]);
  if (role === "shell") return starting([...SHELLS]);
  return [];
}

/** The networks and nodes of the mesh files in a directory (-C DIR, $CIAB_DIR, or the current one). */
export const fileSource = (fallback: string): CompletionSource => ({
  networks: (dir) => {
    try {
      return readdirSync(dir ?? fallback)
        .filter((f) => f.endsWith(".conf") && !f.startsWith("."))
        .map((f) => f.slice(0, -".conf".length))
        .sort();
    } catch {
      return [];
    }
  },
  nodes: (dir, network) => {
    try {
      const ref = meshRef(network, dir ?? fallback);
      const text = readRegularText(ref.path, { what: "mesh file" });
      const nodes = text === undefined ? undefined : parseToml(text, ref.path).Node;
      return nodes && typeof nodes === "object" ? Object.keys(nodes).sort() : [];
    } catch {
      return [];
    }
  },
});

/** The script a shell sources: it hands the words and the cursor's word index to `NAME __complete`. */
export function completionScript(shell: Shell, name: string): string {
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, "_")}_complete`;
  if (shell === "bash")
    return `# ${name} completion for bash: source <(${name} completion bash), or save it as
# ~/.local/share/bash-completion/completions/${name}
${fn}() {
  local IFS=$'\\n'
  COMPREPLY=($(${name} __complete "$COMP_CWORD" "\${COMP_WORDS[@]}" 2>/dev/null))
}
complete -o default -F ${fn} ${name}
`;
  if (shell === "zsh")
    return `#compdef ${name}
# ${name} completion for zsh: source <(${name} completion zsh), or save it as _${name} in a directory of $fpath
${fn}() {
  local -a candidates
  candidates=("\${(@f)$(${name} __complete $((CURRENT - 1)) "\${words[@]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef ${fn} ${name}
`;
  return `# ${name} completion for fish: ${name} completion fish > ~/.config/fish/completions/${name}.fish
function ${fn}
    set -l words (commandline -opc)
    ${name} __complete (count $words) $words (commandline -ct) 2>/dev/null
end
complete -c ${name} -f -a '(${fn})'
`;
}

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .description("print the shell completion script (commands, options, set directives, networks, node names)")
    .argument("<shell>", "bash | zsh | fish")
    .action((shell: string, _o, cmd: Command) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw usage(`completion: unknown shell '${shell}'`, "give bash, zsh or fish");
      const script = completionScript(shell as Shell, program.name());
      if (globals(cmd).json) json({ shell, script });
      else process.stdout.write(script);
    });
  program
    .command("__complete", { hidden: true })
    .description("the completion scripts' helper: the candidates for word CWORD of WORDS, one per line")
    .argument("<cword>")
    .argument("[words...]")
    .allowUnknownOption()
    .passThroughOptions()
    .helpOption(false)
    .action((cword: string, words: string[]) => {
      const found = completions(program, words, Number(cword), fileSource(process.env.CIAB_DIR ?? process.cwd()));
      if (found.length) out(found.join("\n"));
    });
}
