/**
 * The certificate process's answer that arrived in time while the member's event loop was held
 * (a member stopped and continued, a VM paused, swapping, a long task) is taken, not judged
 * "no answer in time": a held loop runs its expired timers before it reads the child's output
 * again, and the deadline then must look once more (`lib/net/late_deadline.ts`). Played with a
 * stand-in child that answers at once; the loop is held past the deadline right after asking.
 */
import { stat } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Logger } from "../../lib/log.ts";
import { silentLogger } from "../../lib/log.ts";
import { startCertificateProcess } from "../../lib/net/cert_issuer.ts";
import { isDeno } from "../../lib/runtime.ts";

const test = suite("a certificate answer that arrived while the loop was held");

const TIMEOUT_MS = 200;

/** A stand-in child answering every request at once with an error naming it. */
const answering = isDeno
  ? {
    command: process.execPath,
    args: [
      "eval",
      `const enc = new TextEncoder();
await Deno.stdout.write(enc.encode(JSON.stringify({ ready: true }) + "\\n"));
let buf = "";
for await (const chunk of Deno.stdin.readable) {
  buf += new TextDecoder().decode(chunk);
  for (let i = buf.indexOf("\\n"); i >= 0; i = buf.indexOf("\\n")) {
    const { id } = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    await Deno.stdout.write(enc.encode(JSON.stringify({ id, error: { message: "answered " + id } }) + "\\n"));
  }
}`,
    ],
  }
  : {
    command: process.execPath,
    args: [
      "-e",
      `process.stdout.write(JSON.stringify({ ready: true }) + "\\n");
require("node:readline").createInterface({ input: process.stdin }).on("line", (line) => {
  const { id } = JSON.parse(line);
  process.stdout.write(JSON.stringify({ id, error: { message: "answered " + id } }) + "\\n");
});`,
    ],
  };

test("is taken", async () => {
  const seen: string[] = [];
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const logger: Logger = {
    level: silentLogger.level,
    debug: (msg: string) => void (msg === "Certificate process ready" && ready()),
    info() {},
    warn: (msg: string) => void seen.push(msg),
    error() {},
    child: () => logger,
  };
  const issuer = startCertificateProcess({ logger, command: answering, timeoutMs: TIMEOUT_MS });
  // The idle child does not keep the process alive (by design): the test does, while it waits.
  const alive = setInterval(() => {}, 1000);
  try {
    await started; // a runtime under load may take seconds to start: not timed
    // Asked inside an I/O callback, and the loop held there: it then runs its expired timers
    // before it reads the child's answer, which arrives meanwhile.
    const answer = await new Promise<Promise<string>>((done) =>
      stat(".", () => {
        const asked = issuer.issue({ name: "delta" }).then(
          () => "issued here",
          (e: Error) => e.message,
        );
        const until = performance.now() + 10 * TIMEOUT_MS;
        while (performance.now() < until) { /* the loop is held */ }
        done(asked);
      })
    );
    assert.is(answer, "answered 1", "the child's answer");
  } finally {
    clearInterval(alive);
    issuer.close();
  }
  assert.equal(seen, [], "no fallback to this process");
});

test.run();
