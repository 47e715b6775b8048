/**
 * The numbers a listener's guard (`limits.ts`) enforces: {@link HttpLimits}, and the values of
 * the network listener ({@link HTTPS_LIMITS}) and of the control socket ({@link UNIX_LIMITS}).
 *
 * @module
 */

/**
 * The limits of one listener. Every count is per listener; "peer" means remote address, except
 * for a connection proven to come from a cluster member (see {@link maxConnectionsPerMember}).
 */
export interface HttpLimits {
  /**
   * Connections open at once. Beyond it, a connection's requests are answered 503 and it is
   * closed; beyond twice it, new connections are closed before their TLS handshake.
   */
  maxConnections: number;
  /**
   * The same per peer, answered 429; beyond twice it, closed before the TLS handshake. Every
   * connection counts here until its TLS client certificate proves it a cluster member's.
   */
  maxConnectionsPerPeer: number;
  /**
   * Connections open at once under one cluster member's certificate. A connection whose TLS
   * client certificate the listener's `isMember` recognises (a member's gossip connection, its
   * requests) leaves its address's count once its handshake is done and counts here instead:
   * members behind one address (a NAT, a whole cluster on one host) do not crowd each other, or
   * that address's other clients, out. Beyond it its requests are answered 429; beyond twice
   * it, it is closed right after its handshake (only then is the certificate known).
   */
  maxConnectionsPerMember: number;
  /**
   * Connections not answered yet, at once: in their TLS handshake, or before the first answer on
   * them (or their WebSocket upgrade). A new connection beyond it is not read and waits (a turn
   * goes to the address with the fewest connections in theirs, its oldest connection first)
   * until one of these is answered or closes; after
   * `headersTimeoutMs` of waiting it is closed, unread (logged at most once a second). This
   * bounds what clients nobody knows yet can make the listener hold (a TLS state and the
   * first bytes read of each) whatever the number of connections.
   */
  maxPending: number;
  /** The same per peer: one peer can fill at most this many of the listener's turns. */
  maxPendingPerPeer: number;
  /**
   * Connections waiting for a turn, at once. Beyond it a new connection is closed before its
   * TLS handshake, unless another address has more connections waiting than its own: then the
   * newest of those is closed instead (an address opening a connection now and then is never
   * crowded out by one opening hundreds). Logged at most once a second.
   */
  maxWaiting: number;
  /** The largest body any endpoint of the listener reads, in bytes (endpoints ask for less). */
  maxBodyBytes: number;
  /**
   * Bytes of request bodies being read at once, all peers together, reserved from each body's
   * declared length (or the endpoint's limit when it declares none). Beyond it: 503.
   */
  maxBufferedBytes: number;
  /** The same per peer. Beyond it: 429. */
  maxBufferedBytesPerPeer: number;
  /**
   * A request's head must have arrived this long after its connection was established (after
   * the TLS handshake) or after the previous answer on it, in ms; else the connection closes,
   * with a 408 when part of a head had arrived. The TLS handshake itself gets the same time.
   */
  headersTimeoutMs: number;
  /** A request's body must have arrived this long after its head, in ms; else 408. */
  bodyTimeoutMs: number;
  /**
   * A body an endpoint did not read (it refused the request first) is read and dropped before
   * the answer is written when at most this many bytes remain, so the client has sent its whole
   * request before the connection may close, and the connection stays usable; a larger one is
   * answered at once and closes the connection.
   */
  discardBytes: number;
}

/**
 * The network listener's limits. Bodies: the largest endpoint body over HTTPS is a join request
 * (a certificate and the joiner's extension list), 128 KiB; 256 KiB leaves room. Connections:
 * a client holds a handful, 64 per address; a member two or three to each other member, counted
 * under its certificate once its handshake proves it (32 per member leave room for its HTTP
 * requests), so a cluster of hundreds fits behind one address; 1024 in all. Unanswered
 * connections: under Deno every TLS connection leaves 50 to 130 KB (its TLS state, its reads
 * copied on their way up) that only the garbage collector gives back, which a member with a
 * small heap runs rarely, so what bounds a flood is how few of its connections reach TLS: 64 in
 * their turn (16 per address leave room for a client's burst of concurrent requests) and 128
 * waiting, cheap (no TLS, nothing read); the rest are closed before TLS. A legitimate
 * connection, answered in milliseconds, waits for a turn about as long as that, and takes the
 * next one whatever others keep waiting.
 */
export const HTTPS_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 1024,
  maxConnectionsPerPeer: 64,
  maxConnectionsPerMember: 32,
  maxPending: 64,
  maxPendingPerPeer: 16,
  maxWaiting: 128,
  maxBodyBytes: 256 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxBufferedBytesPerPeer: 1024 * 1024,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  discardBytes: 64 * 1024,
});

/**
 * The control socket's limits: one local peer (the socket's mode decides who that may be) whose
 * largest body is a SQL script (1 MiB of text, up to twice that once JSON-escaped). No TLS:
 * every connection admitted has its turn at once, and no certificate makes it a member's.
 */
export const UNIX_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 256,
  maxConnectionsPerPeer: 256,
  maxConnectionsPerMember: 256,
  maxPending: 512,
  maxPendingPerPeer: 512,
  maxWaiting: 512,
  maxBodyBytes: 2 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxBufferedBytesPerPeer: 16 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  discardBytes: 64 * 1024,
});
