// `ciab down` as a plan: remove exactly what `ciab up` (or the bundle's ciab-up) created, nothing else. Pure; no I/O.
// Removed: every interface ciab owns for the network (plan.ts ownedLinks: its mark, or a desired name of the right
// kind), so interfaces an older desired state listed go too; WireGuard interfaces with their wireguard-go; the
// nft table; the files beside the WireGuard configuration. Routing: the host's own FRR/BIRD files come back from their .ciab-orig
// copies and the daemon reloads them (it keeps running for the host's other uses); without such a copy the daemon
// ran only ciab's configuration and is stopped, as the bundle's ciab-down does. The host's private key file stays.
// Routing goes first: peers then get a clean session close and withdraw this node's routes at once, instead of
// waiting for their hold timers.

import { OURS, shellQuote } from "./commands.js";
import { BIRD_CONF, BIRD_CTL, FRR_CONF, FRR_DAEMONS, FRR_INIT, FRR_RELOAD, ownedLinks } from "./plan.js";
import type { Action, Command, DesiredHost, DesiredRoutingInstance, ObservedHost } from "./types.js";

export interface DownOptions {
  /** How to remove the WireGuard interface, by its link kind ("wireguard": kernel, "tun": wireguard-go). */
  destroyWg(ifname: string, kind: string): Command[];
}

const cmd = (...argv: string[]): Command => ({ argv });
const restore = (path: string): Command => ({
  argv: ["mv", "-f", `${path}.ciab-orig`, path],
  display: `mv ${shellQuote(`${path}.ciab-orig`)} ${shellQuote(path)}`,
});

export function planDown(d: DesiredHost, o: ObservedHost, opts: DownOptions): Action[] {
  const out: Action[] = [];
  for (const r of d.routing) routingDown(r, o, out);
  if (d.nft && typeof o.nftTable === "string") {
    out.push({
      kind: "nft",
      subject: `inet ${d.nft.table}`,
      reason: `nft table inet ${d.nft.table} was created by ciab`,
      commands: [cmd("nft", "delete", "table", "inet", d.nft.table)],
    });
  }
  // VXLAN devices first: a device bound to its WireGuard interface would otherwise vanish under the next action.
  const owned = ownedLinks(d, o);
  for (const l of owned.filter((x) => x.kind === "vxlan"))
    out.push({ kind: "link", subject: l.name, reason: `VXLAN device ${l.name} was created by ciab`, commands: [cmd("ip", "link", "del", "dev", l.name)] });
  for (const l of owned.filter((x) => x.kind !== "vxlan"))
    out.push({
      kind: "link",
      subject: l.name,
      reason: `WireGuard interface ${l.name} (${l.kind === "tun" ? "wireguard-go" : "kernel"}) was created by ciab`,
      commands: opts.destroyWg(l.name, l.kind),
    });
  const files = d.files.map((f) => f.path).filter((p) => o.files[p] !== undefined);
  if (files.length)
    out.push({
      kind: "file",
      subject: files.join(" "),
      reason: "files installed by ciab beside the WireGuard configuration",
      commands: [cmd("rm", "-f", ...files)],
    });
  return out;
}

function routingDown(r: DesiredRoutingInstance, o: ObservedHost, out: Action[]): void {
  if (r.daemon === "frr" && o.frr?.installed) {
    const backups = [FRR_CONF, FRR_DAEMONS].filter((p) => o.files[`${p}.ciab-orig`] !== undefined);
    const ours = o.files[FRR_CONF]?.text?.includes(OURS) ?? false;
    if (backups.length) {
      const cmds = backups.map(restore);
      if (o.frr.running) {
        if (backups.includes(FRR_DAEMONS) && o.frr.reloadScript) cmds.push(o.frr.systemd ? cmd("systemctl", "reload", "frr") : cmd(FRR_INIT, "reload"));
        else if (o.frr.reloadScript) cmds.push(cmd(FRR_RELOAD, "--reload", FRR_CONF));
        else cmds.push(o.frr.systemd ? cmd("systemctl", "restart", "frr") : cmd(FRR_INIT, "restart"));
      }
      out.push({
        kind: "frr-reload",
        subject: "frr",
        reason: `put the host's own ${backups.join(" and ")} back${o.frr.running ? " and reload FRR" : ""}`,
        commands: cmds,
      });
    } else if (ours && o.frr.running) {
      out.push({
        kind: "frr-reload",
        subject: "frr",
        reason: "FRR runs only ciab's configuration: stop it",
        commands: [o.frr.systemd ? cmd("systemctl", "stop", "frr") : cmd(FRR_INIT, "stop")],
      });
    }
  }
  if (r.daemon === "bird" && o.bird?.installed) {
    if (o.files[`${BIRD_CONF}.ciab-orig`] !== undefined) {
      const cmds = [restore(BIRD_CONF)];
      if (o.bird.running) cmds.push(cmd("birdc", "-s", BIRD_CTL, "configure"));
      out.push({
        kind: "bird-reload",
        subject: "bird",
        reason: `put the host's own ${BIRD_CONF} back${o.bird.running ? " and reload BIRD" : ""}`,
        commands: cmds,
      });
    } else if (o.bird.running && (o.files[BIRD_CONF]?.text?.includes(OURS) ?? false)) {
      out.push({
        kind: "bird-reload",
        subject: "bird",
        reason: "BIRD runs only ciab's configuration: stop it",
        commands: [o.bird.systemd ? cmd("systemctl", "stop", "bird") : cmd("birdc", "-s", BIRD_CTL, "down")],
      });
    }
  }
}
