import { Buffer } from "node:buffer";
import { once } from "node:events";
import { lstat, rename, stat, writeFile } from "node:fs/promises";
import { Agent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { InvalidInputError, LockedError, UnavailableError } from "../../lib/errors.ts";
import { requestJson } from "../../lib/net/client.ts";
import { jsonResponse } from "../../lib/net/json_response.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { serveHttps, serveUnix } from "../../lib/net/serve.ts";
import type { FetchHandler, Listener } from "../../lib/net/serve.ts";
import { keyPair, memoryLogger, tempDir } from "./_helpers.ts";

/** Answers with what it saw: method, path, body, context and the host header. */
const echo: FetchHandler = async (request, ctx) => {
  if (new URL(request.url).pathname === "/throw") throw new Error("db password is hunter2");
  const body = await request.text();
  return Response.json({ method: request.method, path: new URL(request.url).pathname, body, ctx });
};

const https = suite("serveHttps()");

https("serves on port 0, reports the real port, and passes the client fingerprint", async () => {
  const [alpha, client] = [await keyPair("alpha"), await keyPair("client")];
  const listener = await serveHttps({ host: "127.0.0.1", port: 0, ...alpha, handler: echo });
  try {
    assert.ok(listener.port! > 0);
    assert.is(listener.address, `127.0.0.1:${listener.port}`);
    const url = `https://127.0.0.1:${listener.port}/core/1.0?x=1`;
    const mtls = pinnedTlsOptions({
      fingerprint: alpha.fingerprint,
      cert: client.cert,
      key: client.key,
    });
    const withCert = await requestJson({ method: "POST", url, body: { a: 1 }, tls: mtls });
    assert.is(withCert.status, 200);
    assert.equal(withCert.body, {
      method: "POST",
      path: "/core/1.0",
      body: '{"a":1}',
      ctx: { transport: "https", peerFingerprint: client.fingerprint, remoteAddress: "127.0.0.1" },
    });
    const anonymous = pinnedTlsOptions({ fingerprint: alpha.fingerprint, peerCert: alpha.cert });
    const without = await requestJson({ method: "GET", url, tls: anonymous });
    assert.equal((without.body as { ctx: unknown }).ctx, {
      transport: "https",
      remoteAddress: "127.0.0.1",
    });
  } finally {
    await listener.close();
  }
});

https("answers 413 with an error envelope for a body over the listener's limit", async () => {
  const alpha = await keyPair("alpha");
  const listener = await serveHttps({
    host: "127.0.0.1",
    port: 0,
    ...alpha,
    handler: echo,
    limits: { maxBodyBytes: 100_000 },
  });
  try {
    const tls = pinnedTlsOptions({ fingerprint: alpha.fingerprint, peerCert: alpha.cert });
    const url = `https://127.0.0.1:${listener.port}/`;
    const big = await requestJson({ method: "POST", url, body: "x".repeat(100_001), tls });
    assert.is(big.status, 413);
    assert.equal(big.body, {
      type: "error",
      status: "",
      status_code: 0,
      operation: "",
      error_code: 413,
      error: "Request body exceeds the 100000 bytes this endpoint accepts",
      metadata: null,
    });
    const fits = await requestJson({ method: "POST", url, body: "x".repeat(99_990), tls });
    assert.is(fits.status, 200);
  } finally {
    await listener.close();
  }
});

https("refuses an address not of this machine as bad input naming the field", async () => {
  const alpha = await keyPair("alpha");
  // 192.0.2.0/24 is for documentation (RFC 5737): no interface holds it.
  const bound = serveHttps({ host: "192.0.2.1", port: 0, ...alpha, handler: echo });
  const err = await bound.then((l) => l.close().then(() => undefined), (e) => e);
  assert.instance(err, InvalidInputError);
  assert.is((err as InvalidInputError).field, "address");
  assert.match((err as Error).message, "the address is not one of this machine's");
});

https("refuses a port in use with an UnavailableError", async () => {
  const alpha = await keyPair("alpha");
  const first = await serveHttps({ host: "127.0.0.1", port: 0, ...alpha, handler: echo });
  try {
    await serveHttps({ host: "127.0.0.1", port: first.port!, ...alpha, handler: echo });
    assert.unreachable("bound twice");
  } catch (err) {
    assert.instance(err, UnavailableError);
    assert.match(
      (err as Error).message,
      `Listen on "127.0.0.1:${first.port}": the port is in use by another process (EADDRINUSE)`,
    );
  } finally {
    await first.close();
  }
});

const unix = suite("serveUnix()");

async function withUnix(
  run: (listener: Listener, dir: string) => Promise<void>,
  handler: FetchHandler = echo,
  logger = memoryLogger().logger,
): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const listener = await serveUnix({ path: join(dir, "control.socket"), handler, logger });
  try {
    await run(listener, dir);
  } finally {
    await listener.close();
    await cleanup();
  }
}

unix("serves on a 0660 socket with transport unix and removes it on close", async () => {
  let path = "";
  await withUnix(async (listener) => {
    path = listener.address;
    assert.is((await stat(path)).mode & 0o777, 0o660);
    assert.is(listener.port, undefined);
    const res = await requestJson({ method: "PUT", path: "/x", body: [1], socketPath: path });
    assert.equal(res, {
      status: 200,
      body: { method: "PUT", path: "/x", body: "[1]", ctx: { transport: "unix" } },
    });
  });
  try {
    await lstat(path);
    assert.unreachable("socket file left behind");
  } catch (err) {
    assert.is((err as { code?: string }).code, "ENOENT");
  }
});

unix(
  "writes a JSON response kept as text or as chunks of bytes as they are, with their byte length",
  async () => {
    const text = '{"name":"caf\u00e9 \u2713","n":1}';
    const bytes = new TextEncoder().encode(text);
    const chunks = [bytes.subarray(0, 10), bytes.subarray(10, 11), bytes.subarray(11)];
    for (const body of [text, chunks]) {
      await withUnix(async (listener) => {
        const raw = await new Promise<{ length?: string; type?: string; data: Buffer }>(
          (ok, fail) => {
            const req = httpRequest({ socketPath: listener.address, path: "/" }, (res) => {
              const chunks: Buffer[] = [];
              res.on("data", (c: Buffer) => chunks.push(c));
              res.on("end", () =>
                ok({
                  length: res.headers["content-length"],
                  type: res.headers["content-type"],
                  data: Buffer.concat(chunks),
                }));
            });
            req.on("error", fail);
            req.end();
          },
        );
        assert.is(raw.length, String(bytes.length), typeof body);
        assert.is(raw.type, "application/json");
        assert.equal([...raw.data], [...bytes], typeof body);
      }, () => Promise.resolve(jsonResponse(body, 200)));
    }
  },
);

unix(
  "writes a JSON response's extra headers, and its Headers as changed when the handler changed them",
  async () => {
    const headersOf = (listener: Listener) =>
      new Promise<Record<string, unknown>>((ok, fail) => {
        const req = httpRequest({ socketPath: listener.address, path: "/" }, (res) => {
          res.resume();
          res.on("end", () => ok(res.headers));
        });
        req.on("error", fail);
        req.end();
      });
    await withUnix(async (listener) => {
      const h = await headersOf(listener);
      assert.is(h["content-type"], "application/json");
      assert.is(h["allow"], "GET");
    }, () => Promise.resolve(jsonResponse("{}", 405, { Allow: "GET" })));
    await withUnix(async (listener) => {
      const h = await headersOf(listener);
      assert.is(h["content-type"], "application/problem+json");
      assert.is(h["x-added"], "1");
    }, () => {
      const r = jsonResponse("{}", 200);
      r.headers.set("content-type", "application/problem+json");
      r.headers.set("x-added", "1");
      return Promise.resolve(r);
    });
  },
);

unix("refuses a second server on a live socket with a LockedError", async () => {
  await withUnix(async (listener) => {
    try {
      await serveUnix({ path: listener.address, handler: echo });
      assert.unreachable("served twice");
    } catch (err) {
      assert.instance(err, LockedError);
      assert.match((err as Error).message, /another process/);
    }
    const res = await requestJson({ method: "GET", path: "/", socketPath: listener.address });
    assert.is(res.status, 200, "the first server still answers");
  });
});

unix("reclaims a stale socket file, refuses a path that is not a socket", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // A socket file nobody listens on: move a live socket aside, then stop its server.
    const live = join(dir, "live.socket");
    const stale = join(dir, "control.socket");
    const old = createServer();
    old.listen(live);
    await once(old, "listening");
    await rename(live, stale);
    await new Promise((resolve) => old.close(resolve));
    assert.ok((await lstat(stale)).isSocket());
    const listener = await serveUnix({ path: stale, handler: echo });
    const res = await requestJson({ method: "GET", path: "/", socketPath: stale });
    assert.is(res.status, 200);
    await listener.close();
    const plain = join(dir, "plain");
    await writeFile(plain, "data");
    try {
      await serveUnix({ path: plain, handler: echo });
      assert.unreachable("replaced a regular file");
    } catch (err) {
      assert.instance(err, UnavailableError);
    }
  } finally {
    await cleanup();
  }
});

unix("a throwing handler gets a generic 500 and a log line, never the error text", async () => {
  const { logger, lines } = memoryLogger();
  await withUnix(
    async (listener) => {
      const res = await requestJson({
        method: "GET",
        path: "/throw",
        socketPath: listener.address,
      });
      assert.is(res.status, 500);
      const body = res.body as Record<string, unknown>;
      assert.is(body.type, "error");
      assert.is(body.error_code, 500);
      assert.is(body.error, "Internal server error");
      assert.not.match(JSON.stringify(body), /hunter2/);
      const logged = lines.find((l) => l.msg === "Request handler failed");
      assert.ok(logged, "the fault is logged");
      assert.is(logged!.error_name, "Error");
      assert.not.match(JSON.stringify(lines), /hunter2/, "its message is not logged either");
      const ok = await requestJson({ method: "GET", path: "/", socketPath: listener.address });
      assert.is(ok.status, 200, "the server survives");
    },
    echo,
    logger,
  );
});

unix("streams a Response body and aborts the request signal when the client leaves", async () => {
  let aborted: () => void = () => {};
  const sawAbort = new Promise<void>((resolve) => aborted = resolve);
  let hanging: () => void = () => {};
  const sawHang = new Promise<void>((resolve) => hanging = resolve);
  const handler: FetchHandler = (request) => {
    if (new URL(request.url).pathname === "/hang") {
      request.signal.addEventListener("abort", () => aborted());
      hanging();
      return new Promise(() => {});
    }
    const parts = ["[1,", "2,", "3]"];
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = parts.shift();
        if (next === undefined) c.close();
        else c.enqueue(new TextEncoder().encode(next));
      },
    });
    return Promise.resolve(
      new Response(stream, { headers: { "content-type": "application/json" } }),
    );
  };
  await withUnix(async (listener) => {
    const res = await requestJson({ method: "GET", path: "/", socketPath: listener.address });
    assert.equal(res.body, [1, 2, 3]);
    const req = httpRequest({ socketPath: listener.address, path: "/hang" });
    req.on("error", () => {});
    req.end();
    // The client leaves once the handler holds the request (under load, 50 ms was sometimes
    // before the server had read it: no handler ran, no abort came).
    await sawHang;
    req.destroy();
    await sawAbort;
  }, handler);
});

/**
 * Every timer that could end an idle keep-alive connection on its own, set far beyond anything
 * load can explain: a close that waited for one of them would take a minute, so "at once" is
 * asserted as "well before the first of them" rather than as a tight wall-clock bound.
 */
const LONG_MS = 60_000;
const longTimers = { closeGraceMs: LONG_MS, limits: { headersTimeoutMs: LONG_MS } };

/** Resolves with "closed" when `close` does, or "waited" once `CLOSE_WAIT_MS` have passed. */
const CLOSE_WAIT_MS = LONG_MS / 3;
async function closedBeforeTimers(close: Promise<unknown>): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<string>((r) => (timer = setTimeout(() => r("waited"), CLOSE_WAIT_MS)));
  try {
    return await Promise.race([close.then(() => "closed"), waited]);
  } finally {
    clearTimeout(timer);
  }
}

unix("close() ends idle keep-alive connections at once", async () => {
  const { dir, cleanup } = await tempDir();
  const path = join(dir, "control.socket");
  const listener = await serveUnix({ path, handler: echo, ...longTimers });
  // node's own idle timer for keep-alive connections (5 s by default) must not be what ends it.
  listener.server.keepAliveTimeout = LONG_MS;
  const agent = new Agent({ keepAlive: true });
  try {
    const res = await requestJson({ method: "GET", path: "/", socketPath: path, agent });
    assert.is(res.status, 200);
    const sockets = Object.values(agent.freeSockets).flat();
    assert.is(sockets.length, 1, "the connection is kept alive");
    assert.is(await closedBeforeTimers(listener.close()), "closed", "close waited for a timer");
    // The agent unrefs a free socket: its close alone keeps nothing alive, and under load Deno
    // emptied its loop before the server's end reached it ("Exiting early"). The race's timer
    // holds the process until it comes.
    if (!sockets[0]!.destroyed) {
      assert.is(await closedBeforeTimers(once(sockets[0]!, "close")), "closed", "the idle one");
    }
  } finally {
    agent.destroy();
    await listener.close();
    await cleanup();
  }
});

https(
  "close() ends idle TLS keep-alive connections and lets requests in flight finish",
  async () => {
    const alpha = await keyPair("alpha");
    // /slow is answered only once close() has begun, so it is surely in flight during close.
    let seen!: () => void;
    const slowSeen = new Promise<void>((r) => (seen = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const handler: FetchHandler = async (request) => {
      if (new URL(request.url).pathname === "/slow") {
        seen();
        await released;
      }
      return Response.json({ ok: true });
    };
    const listener = await serveHttps({
      host: "127.0.0.1",
      port: 0,
      ...alpha,
      handler,
      ...longTimers,
    });
    listener.server.keepAliveTimeout = LONG_MS;
    const tls = pinnedTlsOptions({ fingerprint: alpha.fingerprint, peerCert: alpha.cert });
    const agent = new HttpsAgent({ keepAlive: true });
    try {
      const url = `https://127.0.0.1:${listener.port}`;
      assert.is((await requestJson({ method: "GET", url: `${url}/`, tls, agent })).status, 200);
      const idle = Object.values(agent.freeSockets).flat()[0]!;
      assert.ok(idle, "the connection is kept alive");
      const slow = requestJson({ method: "GET", url: `${url}/slow`, tls });
      await slowSeen;
      const closing = closedBeforeTimers(listener.close());
      // The idle connection is ended by close() itself, while /slow is still unanswered.
      if (!idle.destroyed) {
        assert.is(await closedBeforeTimers(once(idle, "close")), "closed", "the idle one waited");
      }
      release();
      assert.is((await slow).status, 200, "the request in flight was answered");
      assert.is(await closing, "closed", "close waited for a timer");
    } finally {
      release();
      agent.destroy();
      await listener.close();
    }
  },
);

https.run();
unix.run();
