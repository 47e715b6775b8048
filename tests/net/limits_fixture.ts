/**
 * Fixtures for the listener limit tests (`limits.test.ts`, `waiting_room.test.ts`): a handler
 * whose endpoints refuse, read or hold back bodies, small limits, an HTTPS listener serving it,
 * and raw connections closed after each test.
 *
 * @module
 */
import { jsonResponse } from "../../lib/net/json_response.ts";
import { readRequestBody } from "../../lib/net/node_request.ts";
import { type HttpLimits, type Listener, serveHttps } from "../../lib/net/serve.ts";
import type { FetchHandler } from "../../lib/net/serve.ts";
import { type RawConnection, tlsConnection } from "../helpers/raw_http.ts";
import { keyPair, memoryLogger } from "./_helpers.ts";

/** `/held` waits for it before reading its body (see {@link holdBodies}). */
let held = Promise.resolve();

/** Makes `/held` wait, until the function returned is called, before it reads its body. */
export function holdBodies(): () => void {
  let release = () => {};
  held = new Promise((resolve) => (release = resolve));
  return release;
}

/**
 * `/refuse` answers 403 unread; `/read?max=N` reads up to N bytes and echoes their count;
 * `/held?max=N` does the same once released (see {@link holdBodies}).
 */
export const handler: FetchHandler = async (request) => {
  const url = new URL(request.url);
  if (url.pathname === "/refuse") return jsonResponse('{"refused":true}', 403);
  if (url.pathname === "/held") await held;
  const max = Number(url.searchParams.get("max") ?? 1_000_000);
  const body = await readRequestBody(request, max);
  return jsonResponse(JSON.stringify({ bytes: body.length }), 200);
};

/** Limits small enough to reach with a handful of connections and bytes. */
export const SMALL: Partial<HttpLimits> = {
  maxConnections: 6,
  maxConnectionsPerPeer: 3,
  maxBodyBytes: 10_000,
  maxBufferedBytes: 5000,
  maxBufferedBytesPerPeer: 3000,
  headersTimeoutMs: 400,
  bodyTimeoutMs: 400,
  discardBytes: 1000,
};

/** Runs `fn` against an HTTPS listener serving {@link handler} with `limits`, then closes it. */
export async function withHttps(
  limits: Partial<HttpLimits>,
  fn: (port: number, listener: Listener) => Promise<void>,
  logger = memoryLogger().logger,
): Promise<void> {
  const pair = await keyPair("limits");
  const listener = await serveHttps({
    host: "127.0.0.1",
    port: 0,
    ...pair,
    handler,
    limits,
    logger,
  });
  try {
    await fn(listener.port!, listener);
  } finally {
    await listener.close();
  }
}

/** Raw connections a test opened: {@link closeOpened} destroys them after each test. */
export const opened: RawConnection[] = [];

/** A TLS connection to `port` (from the local address `from`), closed after the test. */
export function open(port: number, from?: string): RawConnection {
  const c = tlsConnection(port, from);
  opened.push(c);
  return c;
}

/** Destroys the connections the test opened. */
export function closeOpened(): void {
  for (const c of opened.splice(0)) c.socket.destroy();
}

/** Resolves once `check()` holds (polled every 10 ms; bound it with `within`). */
export function waitFor(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const tick = () => (check() ? resolve() : setTimeout(tick, 10));
    tick();
  });
}
