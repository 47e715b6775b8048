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
import { chmod, rm } from "node:fs/promises";
import { connect, type Server } from "node:net";
import { descriptorFault } from "../errors.ts";
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

/** How often a unix socket's listener under Deno is checked, ms. */
export const UNIX_CHECK_MS = 5000;
/** How long a check's connection may wait to be accepted before the listener is renewed, ms. */
const UNIX_ACCEPT_MS = 2000;
/** How long after that the check looks again before it renews the listener, ms. */
const UNIX_RECHECK_MS = 500;

/**
 * What {@link keepAcceptingOnPath} tells: the listener was bound again because it had stopped
 * accepting (`stalled`) or because the member is at its limit of open files (`limit`), or it
 * could not be bound again (`unbound`, with the error: tried again at the next check).
 */
export type Renewal =
  | { kind: "stalled" | "limit" }
  | { kind: "unbound"; err: unknown };

/**
 * Keeps `server` (listening on the unix socket `path`, mode `mode`) accepting under Deno. Its
 * handle refuses to listen again (EINVAL), so every {@link UNIX_CHECK_MS} the member connects
 * to its own socket; a connection the kernel queued but the server did not accept within
 * UNIX_ACCEPT_MS (and a moment more) means the listener stopped watching: it is closed and bound
 * again, with its mode, and `onRenew` told. Connections open are kept.
 *
 * A check that cannot connect for want of descriptors finds the member at its limit, where an
 * accept fails and leaves the connection in the socket's queue: `cohort cluster list` waited its
 * 30 s there with no hint (Node accepts on a spare descriptor and closes the connection). The
 * listener is then renewed too: closing it resets the connections queued, whose clients read at
 * once that the daemon closed the connection and why it may have. Bound again on the number it
 * freed; when that fails (another open took it) the socket is missing until a later check binds
 * it, and the CLI, finding the daemon alive, says why it may not answer.
 *
 * Returns the stop of the checks, to call before the server is closed; does nothing under Node.
 */
export function keepAcceptingOnPath(
  server: Server,
  path: string,
  mode: number,
  onRenew: (renewal: Renewal) => void,
): () => void {
  if (!isDeno) return () => {};
  // Counted as accepted, before any admission decides (a refused check is no stall).
  let accepted = 0;
  const emit = server.emit;
  server.emit = function (this: Server, event: string | symbol, ...args: unknown[]) {
    if (event === "connection") accepted++;
    return emit.apply(this, [event, ...args] as Parameters<typeof emit>);
  } as typeof server.emit;
  let busy = false; // a check or a renewal under way
  let stopped = false;
  const check = () => {
    if (busy || stopped) return;
    busy = true;
    // A renewal that could not bind: bound again now.
    if (!server.listening) return void renew("limit");
    const before = accepted;
    const probe = connect({ path });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (renewal?: "stalled" | "limit") => {
      clearTimeout(timer);
      probe.destroy();
      if (renewal && !stopped) void renew(renewal);
      else busy = false;
    };
    probe.once("error", (err) => done(descriptorFault(err) ? "limit" : undefined));
    probe.once("connect", () => {
      timer = setTimeout(() => {
        if (accepted !== before) return done();
        // Judged once more a moment later: after the loop was held (a busy machine) this timer
        // may run before the accept that waited with it.
        timer = setTimeout(
          () => done(accepted === before ? "stalled" : undefined),
          UNIX_RECHECK_MS,
        );
      }, UNIX_ACCEPT_MS);
    });
  };
  const renew = async (kind: "stalled" | "limit") => {
    if (server.listening) server.close(); // resets the connections queued on it
    await rm(path, { force: true }).catch(() => {}); // Deno leaves the file of a closed socket
    if (stopped) return;
    // A bind that fails is told through `onRenew` (once a minute in the log), not as the
    // server's error each check while the member stays at its limit.
    const others = server.listeners("error") as ((err: unknown) => void)[];
    server.removeAllListeners("error");
    const settle = (renewal: Renewal) => {
      server.removeAllListeners("error");
      for (const l of others) server.on("error", l);
      busy = false;
      onRenew(renewal);
    };
    server.once("error", (err) => settle({ kind: "unbound", err }));
    server.listen(path, async () => {
      await chmod(path, mode).catch(() => {}); // meanwhile the state directory (0700) guards it
      settle({ kind });
    });
  };
  const timer = setInterval(check, UNIX_CHECK_MS);
  (timer as { unref?(): void }).unref?.();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
