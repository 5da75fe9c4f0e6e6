// Which end of a WireGuard pair makes first contact when a node comes up. Pure; both ends decide alike from the two
// public keys, so the rule needs no coordination.
// Why (measured, issue 19): when the nodes of a mesh come up together, the new VXLAN device's first packets go to
// every peer at once, so both ends of every pair send a handshake initiation at the same moment. Each end then
// answers the other's initiation, which replaces its own pending handshake, so both responses are refused ("Received
// invalid response message") and the pair waits REKEY_TIMEOUT (5 s) for a retry. Worse, wireguard-go sometimes
// leaves such a crossed pair with a session only one end can receive on: one direction stays dark until the sender
// gives up after 15 s ("stopped hearing back"). With one initiator per pair the handshakes cannot cross.

/**
 * True when this node waits for `peer` to start the first handshake: the peer's public key sorts first. The waiting
 * end configures the peer without its endpoint at first (it cannot initiate, but it answers, and learns the
 * endpoint from the initiation), and sets the endpoint once its own bring-up is done.
 */
export const waitsForPeer = (selfPublicKey: string, peerPublicKey: string): boolean => peerPublicKey < selfPublicKey;
