/**
 * `GET /core/control/events`: the member's status as a server-sent event stream on the control
 * socket. The first event is a full snapshot; another follows each change of the view (members,
 * roles, versions, the upgrade, recent events). A comment line every 15 s keeps an idle stream
 * open through proxies; the stream ends when the member stops. A request that accepts only
 * `application/json` gets the current snapshot instead, in a sync envelope.
 *
 * @module
 */
import type { RouterType } from "itty-router";
import type { Caller } from "../lib/daemon/service.ts";
import { NotSupportedError } from "../lib/errors.ts";
import type { StatusSource } from "../lib/status/tracker.ts";
import { requireLocal } from "./access.ts";
import { sync } from "./envelope.ts";

/** Between keep-alive comments of an idle stream, ms. */
export const KEEPALIVE_MS = 15_000;
/** How long a browser waits before reconnecting a dropped stream, ms (the `retry:` field). */
export const RETRY_MS = 1000;

const encoder = new TextEncoder();

/** Registers the event stream on `router`; without a `source` it answers 501. */
export function eventRoutes(router: RouterType, source: StatusSource | undefined): void {
  router.get("/core/control/events", async (request: Request, caller: Caller) => {
    requireLocal(caller, "The event stream");
    if (!source) throw new NotSupportedError("This member does not follow its status");
    const first = await source.snapshot();
    // A script asking for JSON alone gets the current snapshot, in an envelope.
    const accept = request.headers.get("accept") ?? "";
    if (accept.includes("application/json") && !accept.includes("text/event-stream")) {
      return sync(first);
    }
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let id = 0;
        let open = true;
        const send = (text: string) => {
          if (!open) return;
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            stop();
          }
        };
        const snapshot = (data: unknown) =>
          send(`id: ${++id}\nevent: snapshot\ndata: ${JSON.stringify(data)}\n\n`);
        send(`retry: ${RETRY_MS}\n\n`);
        snapshot(first);
        const unsubscribe = source.subscribe(snapshot);
        const keepalive = setInterval(() => send(": keep-alive\n\n"), KEEPALIVE_MS);
        const unclose = source.onClose(() => stop());
        stop = () => {
          if (!open) return;
          open = false;
          unsubscribe();
          unclose();
          clearInterval(keepalive);
          try {
            controller.close();
          } catch { /* already cancelled */ }
        };
        request.signal.addEventListener("abort", () => stop(), { once: true });
      },
      cancel() {
        stop();
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
      },
    });
  });
}
