/**
 * A stand-in for a daemon's control socket that answers `GET /core/1.0/ready` as a daemon does
 * (503 "Daemon is not ready yet", or 200 once told it is ready) and counts the questions: what
 * `cohort waitready` polls, without a daemon's start-up in the way of a test's timing.
 *
 * @module
 */
import { statePaths } from "../../lib/daemon/state_dir.ts";
import { type Listener, serveUnix } from "../../lib/net/serve.ts";

/** What a {@link readyStandIn} was asked, and whether it answers ready. */
export interface ReadyState {
  /** Answer ready from now on (set by the test). */
  ready: boolean;
  /** Questions asked so far. */
  asked: number;
  /** Questions answered ready. */
  askedReady: number;
}

/** Serves the stand-in on the control socket of state directory `dir`. */
export async function readyStandIn(
  dir: string,
): Promise<{ state: ReadyState; listener: Listener }> {
  const state: ReadyState = { ready: false, asked: 0, askedReady: 0 };
  const json = (status: number, body: unknown) =>
    Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json" },
      }),
    );
  const listener = await serveUnix({
    path: statePaths(dir).socket,
    handler: (request) => {
      if (new URL(request.url).pathname !== "/core/1.0/ready") {
        return json(404, { type: "error", error: "not found", error_code: 404 });
      }
      state.asked++;
      if (!state.ready) {
        return json(503, { type: "error", error: "Daemon is not ready yet", error_code: 503 });
      }
      state.askedReady++;
      return json(200, { type: "sync", status: "Success", status_code: 200, metadata: {} });
    },
  });
  return { state, listener };
}
