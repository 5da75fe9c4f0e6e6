// Commands the planner emits, as data: installing a file atomically, staging and checking a routing daemon's
// configuration, WireGuard's sync input. Pure: builds argv and standard input; nothing here runs anything.
// Files are written through `sh -c` with the content on standard input, so every side effect goes through the
// injected command runner (adapters/exec.ts) and a test can replay a whole plan against a fake one.
import type { Command, DesiredFile, DesiredWireguard } from "./types.js";

/** Marker of files ciab renders: such a file is ours, so it is never kept as the host's original. */
export const OURS = "rendered by ciab";

/** POSIX shell quoting for people reading a plan: every argument, path and name in dry-run output goes through it. */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const q = shellQuote;

/** A command as a shell line for people; standard input is summarised, never shown (it may be a key). */
export function formatCommand(c: Command): string {
  if (c.display) return c.display;
  const line = c.argv.map(q).join(" ");
  return c.input === undefined ? line : `${line} < (${c.input.length} bytes${c.secret ? ", secret" : ""})`;
}

// $1 path, $2 mode, $3 owner ("" = keep root), $4 "backup"|"", $5 mode of the directory when it must be created.
// The content arrives on stdin and lands in $1.ciab-new, then renames over $1: readers never see half a file.
// The host's own file is kept once as $1.ciab-orig (what `ciab down` puts back); ciab's own files are not.
const INSTALL = `set -eu
p=$1; d=$(dirname "$p")
[ -d "$d" ] || { mkdir -p "$d"; chmod "$5" "$d"; }
umask 077
cat > "$p.ciab-new"
chmod "$2" "$p.ciab-new"
if [ -n "$3" ] && id -u "$3" >/dev/null 2>&1; then chown "$3:$3" "$p.ciab-new"; fi
if [ "$4" = backup ] && [ -f "$p" ] && [ ! -e "$p.ciab-orig" ] && ! grep -q '${OURS}' "$p"; then cp -p "$p" "$p.ciab-orig"; fi
mv -f "$p.ciab-new" "$p"`;

const mode = (m: number): string => `0${m.toString(8)}`;

/** Write a file atomically with its mode (and owner), keeping the host's original once when asked. */
export function installFile(f: DesiredFile): Command {
  const dirMode = f.path.startsWith("/etc/wireguard/") ? "0700" : "0755";
  return {
    argv: ["sh", "-c", INSTALL, "ciab-install", f.path, mode(f.mode), f.owner ?? "", f.backup ? "backup" : "", dirMode],
    input: f.content,
    ...(f.secret ? { secret: true } : {}),
    display: `install ${q(f.path)} (${mode(f.mode)}${f.owner ? `, ${f.owner}` : ""}${f.backup ? ", host's original kept as .ciab-orig" : ""}) < (${f.content.length} bytes${f.secret ? ", secret" : ""})`,
  };
}

// $1 staged path, $2 the checker ("frr" or "bird"), $3 owner. The file is staged beside the real one and checked by
// the daemon's own parser; a refused file is removed again, so the host keeps its working configuration.
const STAGE = `set -u
umask 077
cat > "$1" || exit 1
chmod 0640 "$1"
if [ -n "$3" ] && id -u "$3" >/dev/null 2>&1; then chown "$3:$3" "$1"; fi
case $2 in
  frr) out=$(vtysh --dryrun -f "$1" 2>&1) ;;
  bird) out=$(bird -p -c "$1" 2>&1) ;;
esac
rc=$?
if [ $rc -ne 0 ]; then rm -f "$1"; printf '%s\\n' "$out" >&2; echo "the $2 configuration checker refused it (exit $rc)" >&2; exit 1; fi`;

/** Stage a routing configuration at `staged` and check it with the daemon's parser (removed again when refused). */
export function stageConfig(staged: string, checker: "frr" | "bird", content: string): Command {
  return {
    argv: ["sh", "-c", STAGE, "ciab-stage", staged, checker, checker],
    input: content,
    display: `write ${q(staged)} < (${content.length} bytes) and check it (${checker === "frr" ? "vtysh --dryrun -f" : "bird -p -c"})`,
  };
}

// $1 staged, $2 final path, $3 "backup"|"": the checked file replaces the installed one.
const COMMIT = `set -eu
if [ "$3" = backup ] && [ -f "$2" ] && [ ! -e "$2.ciab-orig" ] && ! grep -q '${OURS}' "$2"; then cp -p "$2" "$2.ciab-orig"; fi
mv -f "$1" "$2"`;

export function commitStaged(staged: string, path: string): Command {
  return { argv: ["sh", "-c", COMMIT, "ciab-commit", staged, path, "backup"], display: `mv ${q(staged)} ${q(path)} (host's original kept as .ciab-orig)` };
}

/**
 * `wg syncconf` input: the whole interface, peers included. syncconf adds, changes and removes peers without
 * touching the sessions of unchanged ones, but it also sets the interface itself: a missing PrivateKey clears the
 * key and a missing ListenPort picks a random port (verified with wireguard-tools 1.0.20210914), so both are always
 * written. Keepalive 0 is written too: an absent key leaves the old value in place.
 */
export function syncconfText(wg: DesiredWireguard, privateKeyLine: boolean): string {
  const out = ["[Interface]"];
  if (privateKeyLine && "inline" in wg.privateKey) out.push(`PrivateKey = ${wg.privateKey.inline}`);
  out.push(`ListenPort = ${wg.listenPort}`, `FwMark = ${wg.fwMark === 0 ? "off" : `0x${wg.fwMark.toString(16)}`}`);
  for (const p of wg.peers) {
    out.push("", "[Peer]", `PublicKey = ${p.publicKey}`);
    if (p.presharedKey) out.push(`PresharedKey = ${p.presharedKey}`);
    out.push(`AllowedIPs = ${p.allowedIPs.join(", ")}`);
    if (p.endpoint) out.push(`Endpoint = ${p.endpoint}`);
    out.push(`PersistentKeepalive = ${p.keepalive}`);
  }
  return `${out.join("\n")}\n`;
}

// $1 key file, $2 interface. The private key goes from its file into wg's input inside the shell: ciab never reads
// a key that stays on the host.
const SYNC_WITH_KEYFILE = `set -eu
[ -s "$1" ] || { echo "no private key at $1 (create it with 'ciab key init')" >&2; exit 1; }
{ echo "[Interface]"; printf 'PrivateKey = %s\\n' "$(head -n 1 "$1")"; sed 1d; } | wg syncconf "$2" /dev/stdin`;

/** The one command that brings the interface's keys, port and peers to the desired state. */
export function syncconfCommand(wg: DesiredWireguard, summary: string): Command {
  const secret = "inline" in wg.privateKey || wg.peers.some((p) => p.presharedKey !== undefined);
  if ("file" in wg.privateKey) {
    return {
      argv: ["sh", "-c", SYNC_WITH_KEYFILE, "ciab-wg-sync", wg.privateKey.file, wg.ifname],
      input: syncconfText(wg, false),
      ...(secret ? { secret } : {}),
      display: `wg syncconf ${q(wg.ifname)} (private key from ${q(wg.privateKey.file)}; ${summary})`,
    };
  }
  // Through `cat |`: node hands a child a socket as standard input, and opening /dev/stdin on a socket fails
  // (ENXIO); wg(8) only reads configuration by path.
  return {
    argv: ["sh", "-c", 'cat | wg syncconf "$1" /dev/stdin', "ciab-wg-sync", wg.ifname],
    input: syncconfText(wg, true),
    secret: true,
    display: `wg syncconf ${q(wg.ifname)} < (interface and ${summary}, secret)`,
  };
}
