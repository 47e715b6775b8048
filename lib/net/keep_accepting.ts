/**
 * A TCP listener that accepts again after it met the process's limit of open files, under Deno.
 *
 * Node (libuv) retries an `accept` that failed with `EMFILE` at the listening socket's next
 * readiness, so a member whose limit is raised serves again at once. Deno's `node:net` server
 * (2.9) stops watching the listening socket after such a failure, and nothing tells the server:
 * no `error` event, no callback. A member that reached its limit once, even for a moment, then
 * never accepted another connection on its member port (no join through it, no claim asked of
 * it, no gossip connection from a member new to it) while it looked alive to the members already
 * connected. Calling the handle's `listen` again makes it watch the socket again, and does
 * nothing more to a handle that still watches it (each connection is accepted once). So the
 * listener's handle is told to listen again every {@link REARM_MS}.
 *
 * @module
 */
import type { Server } from "node:net";
import { isDeno } from "../runtime.ts";

/** How often a listener under Deno is told to listen again, ms: the most a member stays deaf. */
export const REARM_MS = 2000;

/** The backlog a listener is told again (node's default). */
const BACKLOG = 511;

/** What a listening `node:net` server's handle offers (internal to both runtimes). */
interface ListeningHandle {
  listen?(backlog: number): number;
}

/**
 * Keeps `server` (listening on TCP) accepting after a failed `accept` under Deno; does nothing
 * under Node, whose listeners do so themselves. The timer does not keep the process alive and
 * stops when the server closes.
 */
export function keepAccepting(server: Server): void {
  if (!isDeno) return;
  const timer = setInterval(() => {
    const handle = (server as unknown as { _handle?: ListeningHandle | null })._handle;
    if (typeof handle?.listen !== "function") return;
    try {
      handle.listen(BACKLOG);
    } catch { /* closing meanwhile: the next tick finds no handle */ }
  }, REARM_MS);
  (timer as { unref?(): void }).unref?.();
  server.once("close", () => clearInterval(timer));
}
