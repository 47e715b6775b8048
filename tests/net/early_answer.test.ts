/**
 * A request its handler answers before reading its body (a refusal: the member waits for an
 * upgrade, the caller is not trusted, the route is unknown) on a connection its client asked to
 * close after the answer. The listener must take the whole request before it closes: a client
 * that writes its head and its body in two writes (Deno's node:http client does, and a busy
 * member reads between them) otherwise writes its body into a closed connection and loses the
 * answer to EPIPE (unix) or a reset (TCP). Every assertion is about what the client got, never
 * about how long it took.
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { UnavailableError } from "../../lib/errors.ts";
import { requestJson } from "../../lib/net/client.ts";
import { jsonResponse } from "../../lib/net/json_response.ts";
import { type FetchHandler, type Listener, serveHttps, serveUnix } from "../../lib/net/serve.ts";
import { moduleCommand } from "../../lib/runtime.ts";
import { spawnTracked } from "../helpers/process.ts";
import {
  head,
  type RawConnection,
  tlsConnection,
  unixConnection,
  within,
} from "../helpers/raw_http.ts";
import { keyPair, tempDir } from "./_helpers.ts";

/** Refuses every request unread, as a waiting member refuses `POST /core/internal/sql`. */
const refuse: FetchHandler = () =>
  Promise.reject(new UnavailableError("Database is waiting for an upgrade"));

/** `/refuse` refuses unread; any other path is answered 200 without reading the body either. */
const handler: FetchHandler = (request) =>
  new URL(request.url).pathname === "/refuse"
    ? refuse(request, { transport: "unix" })
    : Promise.resolve(jsonResponse('{"answered":true}', 200));

const BODY = '{"query":"SELECT 1"}';

/**
 * Writes a request's head alone, then its body once the server has answered and closed its side
 * (or, when it does not answer, after a pause: a server that waits for the body). Returns the
 * answer and whether the body could be written without an error on the connection.
 */
async function headThenBody(
  c: RawConnection,
  path: string,
): Promise<{ status: number; body: unknown; bodyWritten: boolean }> {
  await c.ready;
  c.socket.write(
    head("POST", path, {
      "content-type": "application/json",
      "content-length": BODY.length,
      connection: "close",
    }),
  );
  const ended = new Promise<void>((resolve) => c.socket.once("end", () => resolve()));
  await Promise.race([c.answer.then(() => ended), new Promise((r) => setTimeout(r, 500))]);
  const written = new Promise<boolean>((resolve) => {
    if (c.socket.destroyed || !c.socket.writable) return resolve(false);
    c.socket.write(BODY, (err) => resolve(!err));
  });
  // A write into a connection the peer closed fails (EPIPE) or, over TCP, is answered by a
  // reset: either way the write or the connection reports an error.
  const errored = new Promise<boolean>((resolve) => {
    c.socket.once("error", () => resolve(true));
    c.socket.once("close", (hadError) => resolve(hadError));
  });
  const answer = await within(c.answer, 10_000, "answer");
  const bodyWritten = (await within(written, 10_000, "body write")) &&
    !(await within(errored, 10_000, "close"));
  return { status: answer.status, body: answer.body, bodyWritten };
}

async function withUnix(fn: (listener: Listener) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const listener = await serveUnix({ path: join(dir, "s.sock"), handler });
  try {
    await fn(listener);
  } finally {
    await listener.close();
    await cleanup();
  }
}

async function withHttps(fn: (port: number) => Promise<void>): Promise<void> {
  const listener = await serveHttps({
    host: "127.0.0.1",
    port: 0,
    ...(await keyPair("early")),
    handler,
  });
  try {
    await fn(listener.port!);
  } finally {
    await listener.close();
  }
}

const test = suite("an answer written before the body is read");

test("control socket: a refusal reaches a client that sends its body after its head", async () => {
  await withUnix(async (listener) => {
    const got = await headThenBody(unixConnection(listener.address), "/refuse");
    assert.is(got.status, 503);
    assert.is((got.body as { error?: string }).error, "Database is waiting for an upgrade");
    assert.ok(got.bodyWritten, "the body was written into a closed connection");
  });
});

test("control socket: an answer that ignores the body reaches such a client too", async () => {
  await withUnix(async (listener) => {
    const got = await headThenBody(unixConnection(listener.address), "/ignore");
    assert.is(got.status, 200);
    assert.equal(got.body, { answered: true });
    assert.ok(got.bodyWritten, "the body was written into a closed connection");
  });
});

test("HTTPS: a refusal reaches a client that sends its body after its head, without a reset", async () => {
  await withHttps(async (port) => {
    const got = await headThenBody(tlsConnection(port), "/refuse");
    assert.is(got.status, 503);
    assert.ok(got.bodyWritten, "the body was written into a closed connection");
  });
});

/** A refusing control socket served by another process (fixtures/refusing_server.ts). */
async function refusingServer(path: string): Promise<ChildProcess> {
  const file = join(import.meta.dirname!, "fixtures/refusing_server.ts");
  const { command, args } = moduleCommand(file);
  const child = spawnTracked(command, [...args, path], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  await within(
    new Promise<void>((done, fail) => {
      child.stdout!.on("data", (d) => {
        out += d;
        if (out.includes("listening")) done();
      });
      child.on("exit", (code) => fail(new Error(`the server exited with ${code}`)));
    }),
    60_000,
    "listening server",
  );
  return child;
}

test("the cohort client gets every refusal of a server in another process, never EPIPE", async () => {
  const { dir, cleanup } = await tempDir();
  const socketPath = join(dir, "control.socket");
  const server = await refusingServer(socketPath);
  const exited = new Promise((done) => server.once("exit", done));
  try {
    // Each POST is one connection the client asks to close after the answer, as the CLI's and
    // the test helpers' requests are; four at a time, as a test polling members does.
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 100; round++) {
      await Promise.all(Array.from({ length: 4 }, async () => {
        const outcome = await requestJson({
          method: "POST",
          path: "/core/internal/sql",
          body: { query: "SELECT 1" },
          socketPath,
        }).then((res) => `${res.status}`, (err: Error) => err.message.replace(socketPath, "S"));
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }));
    }
    assert.equal(Object.fromEntries(outcomes), { "503": 400 });
  } finally {
    server.stdin!.end();
    await within(exited, 30_000, "server exit");
    await cleanup();
  }
});

test.run();
