import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { once } from "node:events";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { UnavailableError } from "../../lib/errors.ts";
import { requestJson } from "../../lib/net/client.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { keyPair, tempDir } from "./_helpers.ts";

const client = suite("requestJson()");

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("the request succeeded");
}

client("names the socket and asks whether the daemon runs when nothing is there", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const socketPath = join(dir, "control.socket");
    const err = await failure(requestJson({ method: "GET", path: "/", socketPath }));
    assert.instance(err, UnavailableError);
    assert.is(err.message, `Cannot reach the cohort daemon at "${socketPath}": is it running?`);
  } finally {
    await cleanup();
  }
});

client(
  "says the daemon closed the connection when it accepts and closes without answering",
  async () => {
    // What a Node daemon at its limit of open files does (it accepts on a spare descriptor and
    // closes at once): the CLI printed a bare EPIPE.
    const { dir, cleanup } = await tempDir();
    const socketPath = join(dir, "control.socket");
    const server = createNetServer((socket) => socket.destroy());
    server.listen(socketPath);
    await once(server, "listening");
    try {
      const err = await failure(
        requestJson({
          method: "POST",
          path: "/core/1.0/x",
          socketPath,
          body: { a: "x".repeat(1e6) },
        }),
      );
      assert.instance(err, UnavailableError);
      assert.is(
        err.message,
        `The cohort daemon at "${socketPath}" closed the connection without answering: it may be ` +
          "out of file descriptors or have stopped (see its log)",
      );
    } finally {
      server.close();
      await cleanup();
    }
  },
);

/** A raw server answering `/slow` never, `/text` with text, `/bad` with broken JSON. */
async function rawServer(path: string) {
  const server = createServer((req, res) => {
    if (req.url === "/text") return void res.end("plain words");
    if (req.url === "/bad") {
      res.setHeader("content-type", "application/json");
      return void res.end("{nope");
    }
    if (req.url === "/empty") return void res.writeHead(204).end();
  });
  server.listen(path);
  await once(server, "listening");
  return server;
}

client("times out, passes text through, rejects malformed JSON", async () => {
  const { dir, cleanup } = await tempDir();
  const socketPath = join(dir, "raw.socket");
  const server = await rawServer(socketPath);
  try {
    const started = Date.now();
    const late = await failure(
      requestJson({ method: "GET", path: "/slow", socketPath, timeoutMs: 100 }),
    );
    assert.instance(late, UnavailableError);
    // The request that failed is named: a failure in a test or a CLI command says which it was.
    assert.is(late.message, `Request GET /slow to "${socketPath}": no answer within 100 ms`);
    // It gave up at the 100 ms asked for rather than waiting on (/slow never answers) toward the
    // 30 s default: the bound sits far from both, so a loaded machine cannot cross it.
    const took = Date.now() - started;
    assert.ok(took < 10_000, `gave up after ${took} ms`);
    assert.equal(await requestJson({ method: "GET", path: "/text", socketPath }), {
      status: 200,
      body: "plain words",
    });
    assert.equal(await requestJson({ method: "GET", path: "/empty", socketPath }), {
      status: 204,
      body: null,
    });
    const bad = await failure(requestJson({ method: "GET", path: "/bad", socketPath }));
    assert.instance(bad, UnavailableError);
    assert.match(bad.message, /malformed JSON/);
  } finally {
    server.closeAllConnections();
    server.close();
    await cleanup();
  }
});

client("refuses plain http:// URLs and reports unreachable peers", async () => {
  const alpha = await keyPair("alpha");
  const tls = pinnedTlsOptions({ fingerprint: alpha.fingerprint });
  const plain = await failure(requestJson({ method: "GET", url: "http://127.0.0.1:1/", tls }));
  assert.instance(plain, UnavailableError);
  const refused = await failure(requestJson({ method: "GET", url: "https://127.0.0.1:1/", tls }));
  assert.instance(refused, UnavailableError);
  assert.match(refused.message, /ECONNREFUSED/);
});

client.run();
