/**
 * Connections a member keeps open to the other members, for its requests to them outside gossip
 * (a join's token claims and releases): one keep-alive HTTPS agent, so that the member that
 * admits every join while a cluster forms does not handshake with a majority of the cluster for
 * every join (about 50 TLS handshakes per join at N = 100, each milliseconds of CPU on its loop).
 *
 * Only requests pinned by the peer's certificate itself (`pinnedTlsOptions` with `peerCert`: it
 * is the only CA, and `checkServerIdentity` returns an Error for any other) may use the agent: the
 * pin by fingerprint alone verifies in a connection factory of its own, which an agent bypasses.
 * The agent keys its connections by host, port and every TLS option, so a connection is only
 * reused for the same peer certificate and the same identity of ours.
 *
 * @module
 */
import { Agent } from "node:https";
import type { Socket } from "node:net";

/**
 * How long a connection stays open idle, ms: long enough to carry over from one join to the
 * next while a loaded cluster forms (one every few seconds), and below the listener's own idle
 * limit (10 s, its head timeout), so that the member rarely writes a request on a connection
 * the peer is closing; when it does, the request is sent again on a new one (`resendOnStale`).
 */
export const PEER_IDLE_MS = 7000;
/** Most connections open to one peer at once. */
export const PEER_SOCKETS = 4;

/** The agent's pool name prefix of `address` (`host:port`, IPv6 hosts in brackets). */
function prefixOf(address: string): string {
  const url = new URL(`https://${address}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return `${host}:${url.port || 443}:`;
}

/** Kept-alive connections to other members; see the module docs. */
export class PeerAgents {
  readonly #agent: Agent;
  #closed = false;

  constructor(options: { idleMs?: number; maxSockets?: number } = {}) {
    this.#agent = new Agent({
      keepAlive: true,
      timeout: options.idleMs ?? PEER_IDLE_MS,
      maxSockets: options.maxSockets ?? PEER_SOCKETS,
      // The most recently used connection first: the others go idle and close.
      scheduling: "lifo",
    });
  }

  /** The agent for a request, or `undefined` once closed (the request then opens its own). */
  get agent(): Agent | undefined {
    return this.#closed ? undefined : this.#agent;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Open connections, idle or in use. */
  get size(): number {
    return this.#pools().reduce((n, [, sockets]) => n + sockets.length, 0);
  }

  /**
   * Ends the connections, idle or in use, to every address not in `addresses` (`host:port`):
   * the members that left or were removed.
   */
  retain(addresses: Iterable<string>): void {
    const kept = [...addresses].map(prefixOf);
    for (const [name, sockets] of this.#pools()) {
      if (!kept.some((p) => name.startsWith(p))) { for (const s of [...sockets]) s.destroy(); }
    }
  }

  /** Ends every connection; later requests open connections of their own. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#agent.destroy();
  }

  #pools(): [string, Socket[]][] {
    const agent = this.#agent as unknown as {
      sockets: Record<string, Socket[] | undefined>;
      freeSockets: Record<string, Socket[] | undefined>;
    };
    return [...Object.entries(agent.sockets), ...Object.entries(agent.freeSockets)]
      .map(([name, sockets]) => [name, sockets ?? []] as [string, Socket[]]);
  }
}
