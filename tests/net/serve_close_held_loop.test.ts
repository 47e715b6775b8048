/**
 * A listener's `close()` lets a request in flight finish when its work completed within the
 * grace (`closeGraceMs`) while the event loop was held (a member stopped with SIGSTOP and
 * continued while stopping, its VM paused, swapping): the client gets its answer, not a closed
 * connection. A held loop runs its expired timers before it reads what completed meanwhile, and
 * the grace must look once more (`lib/net/late_deadline.ts`).
 *
 * Played in one process with a real listener and client: the handler waits for real I/O (a
 * file's stat, off the loop); `close()` is called and that I/O started inside an I/O callback,
 * which then holds the loop past the grace. Deno answered even with a plain timer; Node did not.
 */
import { mkdtempSync, rmSync, stat } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { requestJson } from "../../lib/net/client.ts";
import { serveUnix } from "../../lib/net/serve.ts";
import { holdLoop } from "../helpers/held_loop.ts";

const test = suite("a request whose work completed while the closing loop was held");

/** The grace here: short, so that the hold past it stays short. */
const GRACE_MS = 300;

test("is answered", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cohort-close-held-"));
  let work: (() => void) | undefined;
  let started!: () => void;
  const inFlight = new Promise<void>((r) => (started = r));
  const listener = await serveUnix({
    path: join(dir, "s.sock"),
    closeGraceMs: GRACE_MS,
    handler: () =>
      new Promise<Response>((answer) => {
        work = () => stat(dir, () => answer(Response.json({ done: true })));
        started();
      }),
  });
  try {
    const asked = requestJson({ method: "GET", path: "/x", socketPath: join(dir, "s.sock") });
    await inFlight;
    const closed = await new Promise<Promise<void>>((done) =>
      stat(dir, () => {
        const closing = listener.close();
        work!();
        // Past the grace by more than a held loop's margin (100 ms).
        holdLoop(GRACE_MS + 500);
        done(closing);
      })
    );
    const res = await asked.catch((err: Error) => ({ status: 0, body: err.message }));
    await closed;
    assert.equal(res, { status: 200, body: { done: true } });
  } finally {
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
