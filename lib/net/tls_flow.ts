/**
 * Makes a TLS socket's flow control reach the TCP connection under it, in Deno.
 *
 * node:http applies backpressure by pausing a socket: a request body nobody reads stops being
 * read from the network once a few KB are buffered (node's TLS layer stops reading the TCP
 * socket when the TLS socket is paused). Deno's node:tls reads the TCP connection under a TLS
 * socket on its own and feeds every byte that arrives into the TLS layer, paused or not: a
 * client that sends a large body the server does not read (yet) is read in full, and each byte
 * read costs about twice its size in memory that Deno keeps (measured with 128 connections each
 * sending 1 MiB to a node:https server under Deno 2.9: 47 → 340 MB, against 45 → 68 MB in Node;
 * with this tie, 122 MB). Here the TLS handle's `readStop`/`readStart` also stop and restart
 * reading the TCP connection, as node's do.
 *
 * Where the TLS socket has no separate TCP reader (Node), nothing changes.
 *
 * @module
 */
import type { Socket } from "node:net";

/** The TLS handle of a Deno TLS socket: a native wrap that reads a TCP handle of its own. */
interface DenoTlsHandle {
  readStart(...args: unknown[]): unknown;
  readStop(...args: unknown[]): unknown;
  /** The TCP handle it reads; replaced or cleared as the connection changes. */
  _nativeTcpHandle?: { readStart(): unknown; readStop(): unknown } | null;
}

const tied = new WeakSet<object>();

/**
 * Ties the reading of `socket`'s TCP connection to the TLS socket's own (see the module docs).
 * Call it once the TLS socket exists (`secureConnection`); calling it again does nothing.
 */
export function tieTcpReadsToTls(socket: Socket): void {
  const handle = (socket as Socket & { _handle?: DenoTlsHandle | null })._handle;
  if (!handle || tied.has(handle) || !handle._nativeTcpHandle) return;
  if (typeof handle.readStop !== "function" || typeof handle.readStart !== "function") return;
  tied.add(handle);
  const { readStop, readStart } = handle;
  // Only a stop of ours is undone: the TCP handle is read-started once by the TLS socket's
  // start, and Deno restarts it itself after the handshake.
  let stopped = false;
  handle.readStop = function (this: DenoTlsHandle, ...args: unknown[]) {
    if (!stopped) {
      stopped = true;
      this._nativeTcpHandle?.readStop();
    }
    return readStop.apply(this, args);
  };
  handle.readStart = function (this: DenoTlsHandle, ...args: unknown[]) {
    if (stopped) {
      stopped = false;
      this._nativeTcpHandle?.readStart();
    }
    return readStart.apply(this, args);
  };
}
