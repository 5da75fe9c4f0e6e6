// Writes schema/cli/<command>.v1.json: the JSON Schemas (draft-07) of every command's --json document and of the
// error document (README "Machine-readable output"). This file is their source; the files are committed and shipped,
// and test/integration/json-contract.test.ts checks they are what this script writes (`node scripts/json-schemas.mjs`).
// A command's schema is named by its command path: `ciab lab up` -> ciab/lab-up/v1 in schema/cli/lab-up.v1.json.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "..", "schema", "cli");

const str = { type: "string" };
const strs = { type: "array", items: str };
const bool = { type: "boolean" };
const int = { type: "integer" };
const num = { type: "number" };
const obj = (properties, required = Object.keys(properties), extra = false) => ({ type: "object", required, properties, additionalProperties: extra });
const arr = (items) => ({ type: "array", items });
const key44 = { type: "string", pattern: "^[A-Za-z0-9+/]{43}=$" };
const warnings = strs;

const nodeSummary = obj({ name: str, address: strs, vtep: str, linkLayerAddress: strs, listenPort: int, publicKey: key44 });
const keyChange = obj({ key: str, before: {}, after: {} }, ["key"]);
const pair = { type: "array", items: str, minItems: 2, maxItems: 2 };
const mutation = {
  network: str,
  file: str,
  changed: bool,
  added: arr(nodeSummary),
  removed: strs,
  set: obj({ network: arr(keyChange), nodes: { type: "object", additionalProperties: arr(keyChange) } }),
  blacklist: obj({ added: arr(pair), removed: arr(pair) }),
  skipped: arr(obj({ code: str, message: str })),
  warnings,
};
const showNode = obj(
  {
    name: str,
    publicKey: key44,
    privateKey: key44,
    keyOnHost: bool,
    endpoint: { type: ["string", "null"] },
    listenPort: int,
    address: strs,
    ipv6: { type: ["string", "null"] },
    vtep: str,
    mac: str,
    allowedIPs: strs,
    linkLayerAddress: strs,
    fwMark: int,
    persistentKeepalive: int,
    subnets: strs,
    discoverLXD: bool,
    nat: { enum: ["auto", "none", "symmetric"] },
    relay: { type: ["string", "null"] },
    blacklist: strs,
    whitelist: strs,
  },
  ["name", "publicKey", "keyOnHost", "endpoint", "listenPort", "address", "vtep", "mac", "linkLayerAddress", "subnets", "blacklist", "whitelist"],
);
const action = obj({ kind: str, subject: str, reason: str, commands: strs }, ["kind", "reason", "commands"]);
const hostReport = {
  network: str,
  node: str,
  dryRun: bool,
  announce: strs,
  wireguardBackend: str,
  actions: arr(action),
  applied: int,
  failed: obj({ action, step: int, command: str, output: str }),
  skipped: int,
  warnings,
};
const status = obj(
  {
    network: str,
    node: str,
    ok: bool,
    wireguard: arr(obj({ ifname: str, exists: bool, listenPort: int }, ["ifname", "exists"])),
    vxlan: arr(obj({ ifname: str, exists: bool, up: bool }, ["ifname", "exists"])),
    routing: obj({ daemon: str, answering: bool, error: str }, ["daemon", "answering"]),
    peers: arr({
      type: "object",
      required: ["name", "path"],
      properties: {
        name: str,
        path: { enum: ["direct", "relayed"] },
        via: str,
        probing: bool,
        nat: { enum: ["endpoint-independent", "symmetric", "unknown"] },
        endpointSource: { enum: ["static", "stun", "roamed"] },
        endpoint: str,
      },
    }),
    problems: strs,
    agent: { type: "object" },
  },
  ["network", "node", "ok", "wireguard", "vxlan", "routing", "peers", "problems"],
);
const labState = obj(
  { name: str, phase: { enum: ["building", "up", "failed"] }, network: str, namespaces: strs, containers: { type: "array" }, upSeconds: num },
  ["name", "phase", "network", "namespaces"],
  true,
);

/** Each command's own fields (beside schema and ok), the required ones, and whether others may appear. */
const COMMANDS = {
  add: { description: "the nodes add allocated (address, VTEP, listen port, public key) and the network it created", props: mutation },
  set: { description: "the keys set per network and node, before and after (secrets redacted)", props: mutation },
  del: { description: "the nodes deleted", props: mutation },
  blacklist: { description: "the blacklist pairs added or removed", props: mutation },
  show: {
    description: "the networks (always a list) with their settings and nodes",
    props: { networks: arr(obj({ network: str, interface: str, settings: { type: "object" }, nodes: arr(showNode), warnings })), warnings },
  },
  showconf: { description: "one node's wg-quick file (vwgen layout)", props: { network: str, node: str, config: str, warnings } },
  zone: {
    description: "BIND zones: their text, or the files written with --out",
    props: { zones: arr(obj({ network: str, domain: str, origin: str, text: str })), files: strs, warnings },
    required: ["warnings"],
    anyOf: [{ required: ["zones"] }, { required: ["files"] }],
  },
  migrate: {
    description: "the repairs made (or, with --dry-run, to make) and what render still refuses",
    props: {
      network: str,
      file: str,
      dryRun: bool,
      written: bool,
      changes: arr(obj({ node: str, key: str, before: str, after: str, why: str }, ["key", "before", "after", "why"])),
      remaining: arr(obj({ message: str, hint: str }, ["message"])),
    },
  },
  genkey: { description: "a new private key", props: { privateKey: key44 } },
  genpsk: { description: "a new pre-shared key", props: { presharedKey: key44 } },
  pubkey: { description: "the public key of the private key on standard input", props: { publicKey: key44 } },
  completion: { description: "the shell completion script", props: { shell: { enum: ["bash", "zsh", "fish"] }, script: str } },
  render: {
    description: "the bundles written, and the stale ones removed or kept",
    props: {
      network: str,
      meshDigest: { type: "string", pattern: "^[0-9a-f]{64}$" },
      bundles: arr(obj({ node: str, dir: str, files: strs })),
      removed: strs,
      kept: strs,
      warnings,
    },
  },
  graph: {
    description: "the DOT text, or the file written with --out",
    props: { network: str, dot: str, file: str, warnings },
    required: ["network", "warnings"],
    anyOf: [{ required: ["dot"] }, { required: ["file"] }],
  },
  "key-init": {
    description: "the host's key file and its public key",
    props: { network: str, node: str, keyFile: str, created: bool, publicKey: key44, warnings },
  },
  "registry-import": { description: "the network stored in the registry", props: { network: str, registry: str, changed: bool, nodes: int, warnings } },
  "registry-export": { description: "the network's text in the registry, byte for byte", props: { network: str, registry: str, revision: str, text: str } },
  "token-create": {
    description: "a join token and the node allocated for it",
    props: { network: str, node: str, id: str, expiresAt: str, allocated: { type: "object" }, token: str },
    required: ["network", "id", "expiresAt", "token"],
  },
  join: {
    description: "the node this host joined as, and its agent",
    props: { net: str, node: str, stateDir: str, agent: {}, run: str },
    required: ["net", "node", "stateDir", "agent"],
    extra: true,
  },
  agent: {
    description: "one event of the agent's stream (one document per line)",
    props: { at: str, event: str, message: str },
    required: ["at", "event"],
    extra: true,
  },
  up: {
    description: "the plan applied (one per line with --watch, each with its round)",
    props: { ...hostReport, round: int, status },
    required: ["network", "node", "actions", "applied", "warnings"],
  },
  down: { description: "what was removed", props: hostReport, required: ["network", "node", "actions", "applied", "warnings"] },
  status: { description: "peers, devices, routing sessions and problems", props: status.properties, required: status.required },
  doctor: {
    description: "the host's prerequisites",
    props: { checks: arr(obj({ name: str, status: { enum: ["ok", "warn", "fail"] }, detail: str, fix: str }, ["name", "status", "detail"])) },
  },
  "lab-up": { description: "the lab's state", props: labState.properties, required: labState.required, extra: true },
  "lab-join": { description: "the lab's state after the node joined", props: labState.properties, required: labState.required, extra: true },
  "lab-etcd": { description: "the lab's etcd, stopped or started", props: { lab: str, etcd: { enum: ["stopped", "started"] } } },
  "lab-test": {
    description: "the reachability matrix and the checks",
    props: {
      lab: str,
      containers: { type: "array" },
      matrix: { type: "array" },
      checks: arr(obj({ name: str, status: str, detail: str }, ["name", "status", "detail"], true)),
      seconds: num,
    },
  },
  "lab-exec": { description: "the command's exit code and output", props: { lab: str, target: str, argv: strs, exitCode: int, stdout: str, stderr: str } },
  "lab-status": {
    description: "the lab's nodes, namespaces and processes",
    props: { name: str, phase: str, network: str, startedAt: str, upSeconds: num, provider: str, namespaces: { type: "array" }, nodes: { type: "array" } },
    required: ["name", "phase", "network", "namespaces", "nodes"],
    extra: true,
  },
  "lab-down": { description: "the namespaces removed and the processes stopped", props: { name: str, namespaces: strs, killed: int, warnings } },
};

const base = (name, title, description) => ({
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: `https://github.com/ciab-mesh/ciab-mesh/schema/cli/${name}.v1.json`,
  title,
  description,
});

export function schemas() {
  const out = {};
  for (const [name, c] of Object.entries(COMMANDS)) {
    const props = { schema: { const: `ciab/${name}/v1` }, ok: bool, ...c.props };
    out[name] = {
      ...base(name, `ciab ${name.replace("-", " ")} --json, version 1`, c.description),
      type: "object",
      required: [...new Set(["schema", "ok", ...(c.required ?? Object.keys(c.props))])],
      properties: props,
      additionalProperties: c.extra === true,
      ...(c.anyOf ? { anyOf: c.anyOf } : {}),
    };
  }
  const codes = ["internal", "usage", "notFound", "invalid", "conflict", "io", "locked", "external", "degraded"];
  out.error = {
    ...base("error", "ciab error document, version 1", "any command's failure: the code, exit code, message, hint and location of the text form"),
    type: "object",
    required: ["schema", "ok", "error"],
    properties: {
      schema: { const: "ciab/error/v1" },
      ok: { const: false },
      error: obj(
        {
          code: { enum: codes },
          exitCode: { type: "integer", minimum: 1, maximum: 9 },
          message: str,
          hint: str,
          where: obj({ file: str, line: int, column: int, table: str, key: str, node: str, value: str }, []),
        },
        ["code", "exitCode", "message"],
      ),
    },
    additionalProperties: false,
  };
  return out;
}

export const schemaText = (s) => `${JSON.stringify(s, null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--check") {
  // The committed files are what this script writes: exit 1 naming the first that differs.
  const want = Object.fromEntries(Object.entries(schemas()).map(([n, s]) => [`${n}.v1.json`, schemaText(s)]));
  const have = readdirSync(OUT).filter((f) => f.endsWith(".v1.json"));
  for (const f of new Set([...Object.keys(want), ...have])) {
    const text = have.includes(f) ? readFileSync(join(OUT, f), "utf8") : undefined;
    if (text !== want[f]) {
      process.stderr.write(`schema/cli/${f} is not what scripts/json-schemas.mjs writes: run 'node scripts/json-schemas.mjs'\n`);
      process.exit(1);
    }
  }
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(OUT, { recursive: true });
  for (const f of readdirSync(OUT)) if (f.endsWith(".v1.json")) rmSync(join(OUT, f));
  for (const [name, s] of Object.entries(schemas())) writeFileSync(join(OUT, `${name}.v1.json`), schemaText(s));
}
