// `ciab down` as a plan: remove exactly what `ciab up` (or the bundle's ciab-up) created, nothing else. Pure; no I/O.
// Removed: the mesh's WireGuard interface (and its wireguard-go), its VXLAN device, its nft table, the files
// beside the WireGuard configuration. Routing: the host's own FRR/BIRD files come back from their .ciab-orig
// copies and the daemon reloads them (it keeps running for the host's other uses); without such a copy the daemon
// ran only ciab's configuration and is stopped, as the bundle's ciab-down does. The host's private key file stays.
// Routing goes first: peers then get a clean session close and withdraw this node's routes at once, instead of
// waiting for their hold timers.

import { OURS, shellQuote } from "./commands.js";
import { BIRD_CONF, BIRD_CTL, FRR_CONF, FRR_DAEMONS, FRR_INIT, FRR_RELOAD } from "./plan.js";
import type { Action, Command, DesiredHost, ObservedHost } from "./types.js";

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
  const r = d.routing;
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
  if (d.nft && typeof o.nftTable === "string") {
    out.push({
      kind: "nft",
      subject: `inet ${d.nft.table}`,
      reason: `nft table inet ${d.nft.table} was created by ciab`,
      commands: [cmd("nft", "delete", "table", "inet", d.nft.table)],
    });
  }
  const vx = o.links.find((l) => l.name === d.vxlan.ifname);
  if (vx?.kind === "vxlan")
    out.push({ kind: "link", subject: vx.name, reason: `VXLAN device ${vx.name} was created by ciab`, commands: [cmd("ip", "link", "del", "dev", vx.name)] });
  const wg = o.links.find((l) => l.name === d.wireguard.ifname);
  // Only an interface that answers as WireGuard is ours to delete; any other interface of that name is left alone.
  if (wg && o.wireguard)
    out.push({
      kind: "link",
      subject: wg.name,
      reason: `WireGuard interface ${wg.name} (${wg.kind === "tun" ? "wireguard-go" : "kernel"}) was created by ciab`,
      commands: opts.destroyWg(wg.name, wg.kind),
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
