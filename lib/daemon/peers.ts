/**
 * How a member talks to another member outside gossip (a join request, the request to leave,
 * asking whether it was removed, withdrawing after a failed join): one JSON request, the peer
 * pinned by the cluster certificate's fingerprint, this member's certificate presented. A seam
 * with two implementations sharing one contract (tests/daemon/peers_contract.ts): HTTPS for real
 * members ({@link httpsPeers}), and `memory_peers.ts` for whole members in one process on a
 * simulated clock.
 *
 * @module
 */
import { requestJson } from "../net/client.ts";
import { PeerAgents } from "../net/peer_agents.ts";
import { pinnedTlsOptions } from "../net/pin.ts";

/**
 * The `User-Agent` of a request a member sends on to the others as a notification
 * (MicroCluster's, LXD's cluster notifier): the receiver handles it for itself alone, and sends
 * it on to nobody.
 */
export const NOTIFIER_AGENT = "lxd-cluster-notifier";

/** One request to a peer. */
export interface PeerRequest {
  /** The peer's `host:port`. */
  address: string;
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path and query, e.g. `/core/internal/cluster`. */
  path: string;
  /** JSON body, when any. */
  body?: unknown;
  /** Extra request headers, e.g. `user-agent` ({@link NOTIFIER_AGENT}). */
  headers?: Record<string, string>;
  /** Fingerprint (hex SHA-256) of the cluster certificate the peer must present. */
  fingerprint: string;
  /** This member's certificate and key (PEM), presented to the peer. */
  identity: { cert: string; key: string };
  /** Deadline of the whole exchange, ms. */
  timeoutMs: number;
  /**
   * The certificate (PEM) the peer presents, when known (the cluster certificate, to a member of
   * the cluster): with {@link PeerRequest.connections}, the request may use a kept connection.
   * It must have {@link PeerRequest.fingerprint}.
   */
  peerCert?: string;
  /**
   * Kept connections to use (with {@link PeerRequest.peerCert}); see `PeerTransport.connections`.
   * Such a request may reach the peer twice (sent again when the kept connection closed as it
   * went out), so only requests whose repetition changes nothing name them (token claims and
   * releases).
   */
  connections?: PeerConnections;
}

/** Connections kept open to other members, from {@link PeerTransport.connections}. */
export interface PeerConnections {
  /** Ends the connections to every address not in `addresses` (members that left). */
  retain(addresses: Iterable<string>): void;
  /** Ends every connection; requests naming these afterwards open their own. Idempotent. */
  close(): void;
}

/** A peer's answer: HTTP status and parsed JSON body. */
export interface PeerAnswer {
  status: number;
  body: unknown;
}

/** Sends requests to other members. */
export interface PeerTransport {
  /**
   * Sends one request; any HTTP status is returned.
   *
   * @throws {UnavailableError} when the peer cannot be reached or does not answer in time
   * @throws {ForbiddenError} when the peer does not present the pinned certificate
   */
  request(request: PeerRequest): Promise<PeerAnswer>;
  /**
   * A new set of kept connections, owned by the caller (it closes them). A request naming it,
   * with the peer's certificate, reuses a connection open to that peer, if any, rather than
   * opening another (a TLS handshake each); the peer is pinned all the same. A transport
   * without it keeps nothing ({@link keptConnections}).
   */
  connections?(): PeerConnections;
}

/** The real transport: HTTPS with mutual TLS, the peer pinned by fingerprint. */
export const httpsPeers: PeerTransport = Object.freeze({
  request(r: PeerRequest): Promise<PeerAnswer> {
    // Only options pinned by the peer's certificate may go through an agent (`peer_agents.ts`).
    const agent = r.peerCert !== undefined && r.connections instanceof PeerAgents
      ? r.connections.agent
      : undefined;
    try {
      return requestJson({
        method: r.method,
        url: `https://${r.address}${r.path}`,
        body: r.body,
        tls: pinnedTlsOptions({
          fingerprint: r.fingerprint,
          cert: r.identity.cert,
          key: r.identity.key,
          ...(agent ? { peerCert: r.peerCert } : {}),
        }),
        timeoutMs: r.timeoutMs,
        ...(r.headers ? { headers: r.headers } : {}),
        ...(agent ? { agent, resendOnStale: true } : {}),
      });
    } catch (err) {
      return Promise.reject(err);
    }
  },
  connections(): PeerConnections {
    return new PeerAgents();
  },
});

/** `peers`' kept connections, or a set that keeps nothing when it has none. */
export function keptConnections(peers: PeerTransport): PeerConnections {
  return peers.connections?.() ?? { retain() {}, close() {} };
}

/** The `error` of an error envelope, else `HTTP <status>`. */
export function answerError(answer: PeerAnswer): string {
  const msg = (answer.body as { error?: unknown } | null)?.error;
  return typeof msg === "string" && msg ? msg : `HTTP ${answer.status}`;
}
