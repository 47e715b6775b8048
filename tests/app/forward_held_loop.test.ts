/**
 * A forwarded request (`?target=`) whose target answered in time while the forwarding member's
 * event loop was held (stopped with SIGSTOP and continued, its VM paused, swapping, a long task)
 * comes back with that answer, not "no answer within … ms": a held loop runs its expired timers
 * before it reads the sockets again, and the forward's bound must look once more
 * (`lib/net/late_deadline.ts`).
 *
 * Played in one process: the target (a real HTTPS listener presenting the cluster certificate)
 * writes its answer, then holds the loop past the forward's bound in that I/O callback. Deno
 * failed the same way with a plain timer.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { httpsForwarder } from "../../lib/app/forward.ts";
import type { MemberService } from "../../lib/daemon/service.ts";
import { generateCertificate } from "../../lib/net/certificates.ts";
import { holdLoop } from "../helpers/held_loop.ts";

const test = suite("a forwarded request answered while the loop was held");

/** The forward's bound here: short, so that the hold past it stays short. */
const TIMEOUT_MS = 300;

test("comes back with the answer", async () => {
  const cluster = await generateCertificate({ name: "cluster", addresses: ["127.0.0.1"] });
  const own = await generateCertificate({ name: "m1" });
  const dir = mkdtempSync(join(tmpdir(), "cohort-forward-held-"));
  writeFileSync(join(dir, "cluster.crt"), cluster.cert);
  writeFileSync(join(dir, "server.crt"), own.cert);
  writeFileSync(join(dir, "server.key"), own.key);
  let held = 0;
  const target = createServer({ cert: cluster.cert, key: cluster.key }, (req, res) => {
    req.resume();
    req.once("end", () => {
      held++;
      answer(res);
      // In this I/O callback (the request read), past the bound by more than a held loop's
      // margin (100 ms): the loop then runs its expired timers before it reads the answer.
      holdLoop(TIMEOUT_MS + 500);
    });
  });
  target.on("tlsClientError", () => {});
  await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
  const address = `127.0.0.1:${(target.address() as { port: number }).port}`;
  const member = {
    clusterMembers: () => Promise.resolve([{ name: "m2", address }]),
    info: () => ({ name: "m1" }),
  } as unknown as MemberService;
  try {
    const forward = httpsForwarder(dir, member, { timeoutMs: TIMEOUT_MS });
    const res = await forward("m2", new Request("https://m1/1.0/widgets?target=m2"));
    assert.is(held, 1, "the target held the loop once");
    assert.is(res.status, 200);
    assert.equal(await res.json(), { answered: "m2" });
  } finally {
    target.closeAllConnections();
    await new Promise((r) => target.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

function answer(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "application/json", connection: "close" });
  res.end(JSON.stringify({ answered: "m2" }));
}

test.run();
