// The agent's STUN learner (issue 13 part 3): what the NAT in front of this host maps the WireGuard listen port to,
// asked from the fixed STUN port that the bundle's nft table SNATs to the WireGuard port (render/nft.ts stunSnat;
// adapters/stun.ts learnMapping). A live conntrack entry keeps the SNAT target it was made with, so the STUN flows
// are forgotten before the first question and whenever the listen port changed (NAT-FINDINGS §3a). Also the
// pre-punch, and the handshake reader with which the agent finds peers it cannot reach (reach.ts).
import { networkInterfaces } from "node:os";
import type { Runner } from "../adapters/exec.js";
import { forgetStunFlows, learnMapping, prePunch } from "../adapters/stun.js";
import { observeWireguard } from "../adapters/wireguard.js";
import type { Mesh, MeshNode } from "../model/mesh.js";
import type { Classification } from "../nat/classify.js";
import { PUNCH_TTL, punchSourcePort, stunSourcePort } from "../nat/stun.js";

/** The host's own addresses: a mapping onto one of them means no NAT at all. */
const hostAddresses = (): string[] =>
  Object.values(networkInterfaces())
    .flat()
    .flatMap((a) => (a ? [a.address] : []));

export function stunLearner(run: Runner, deadlineMs = 5000): (self: MeshNode, mesh: Mesh) => Promise<Classification> {
  let forgotten: number | undefined;
  return async (self, mesh) => {
    const port = stunSourcePort(self.listenPort);
    if (forgotten !== self.listenPort) {
      await forgetStunFlows(run, port);
      forgotten = self.listenPort;
    }
    return learnMapping({
      servers: mesh.network.stunServers,
      port,
      method: "scoped-snat",
      mappedPort: self.listenPort,
      localAddresses: hostAddresses(),
      deadlineMs,
    });
  };
}

/** The agent's pre-punch (AgentOptions.punch): from the port the bundle's nft rule rewrites to WireGuard's. */
export function punchSender(run: Runner, log: (line: string) => void): (self: MeshNode, targets: string[]) => Promise<void> {
  return async (self, targets) => {
    try {
      await prePunch(run, { port: punchSourcePort(self.listenPort), ttl: PUNCH_TTL, targets });
      log(`pre-punched ${targets.length} peer endpoint(s) with TTL ${PUNCH_TTL}`);
    } catch (e) {
      log(`pre-punch failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
}

/** The agent's handshake reader (AgentOptions.handshakes): `wg show IF dump`; undefined when the interface is missing. */
export function wgHandshakes(run: Runner): (ifname: string) => Promise<ReadonlyMap<string, number> | undefined> {
  return async (ifname) => {
    const o = await observeWireguard(run, ifname);
    return o && new Map(o.peers.map((p) => [p.publicKey, p.latestHandshake]));
  };
}
