import { once } from "node:events";
import { createServer, request } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import WebSocket, { WebSocketServer } from "ws";
import { ForbiddenError, InvalidInputError } from "../../lib/errors.ts";
import { peerFingerprint, pinnedTlsOptions } from "../../lib/net/pin.ts";
import type { PinnedTlsOptions } from "../../lib/net/pin.ts";
import { keyPair } from "./_helpers.ts";

interface Ctx {
  server: Server;
  port: number;
  requests: number;
  seen: (string | undefined)[];
}

const pin = suite<Ctx>("pinnedTlsOptions()", {} as Ctx);

pin.before(async (ctx) => {
  const alpha = await keyPair("alpha");
  ctx.requests = 0;
  ctx.seen = [];
  ctx.server = createServer(
    { cert: alpha.cert, key: alpha.key, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      ctx.requests++;
      ctx.seen.push(peerFingerprint(req.socket as TLSSocket));
      res.end("ok");
    },
  );
  const wss = new WebSocketServer({ noServer: true });
  ctx.server.on("upgrade", (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => ws.close(1000, "bye"));
  });
  ctx.server.listen(0, "127.0.0.1");
  await once(ctx.server, "listening");
  ctx.port = (ctx.server.address() as AddressInfo).port;
});

pin.after((ctx) => void ctx.server.close());

function get(ctx: Ctx, tls: PinnedTlsOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const agent = tls.createConnection ? undefined : false;
    const options = { host: "127.0.0.1", port: ctx.port, path: "/", method: "POST", ...tls, agent };
    const req = request(options, (res) => {
      let text = "";
      res.on("data", (c) => text += c);
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.end("secret join token");
  });
}

async function rejected(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("the connection was accepted");
}

pin("accepts the pinned peer by fingerprint alone", async (ctx) => {
  const alpha = await keyPair("alpha");
  assert.is(await get(ctx, pinnedTlsOptions({ fingerprint: alpha.fingerprint })), "ok");
});

pin(
  "accepts the pinned peer by certificate, fingerprint in upper case with colons",
  async (ctx) => {
    const alpha = await keyPair("alpha");
    const colons = alpha.fingerprint.toUpperCase().match(/../g)!.join(":");
    assert.is(
      await get(ctx, pinnedTlsOptions({ fingerprint: colons, peerCert: alpha.cert })),
      "ok",
    );
  },
);

pin("rejects a peer with another certificate before sending anything", async (ctx) => {
  const beta = await keyPair("beta");
  const before = ctx.requests;
  const err = await rejected(get(ctx, pinnedTlsOptions({ fingerprint: beta.fingerprint })));
  assert.instance(err, ForbiddenError);
  assert.match(err.message, /does not match the pinned/);
  const err2 = await rejected(
    get(ctx, pinnedTlsOptions({ fingerprint: beta.fingerprint, peerCert: beta.cert })),
  );
  assert.ok(err2 instanceof Error);
  assert.is(ctx.requests, before, "no request reached the impostor");
});

pin("refuses a peer certificate that does not have the pinned fingerprint", async () => {
  const [alpha, beta] = [await keyPair("alpha"), await keyPair("beta")];
  assert.throws(
    () => pinnedTlsOptions({ fingerprint: beta.fingerprint, peerCert: alpha.cert }),
    (e: unknown) => e instanceof ForbiddenError,
  );
  assert.throws(
    () => pinnedTlsOptions({ fingerprint: "abc" }),
    (e: unknown) => e instanceof InvalidInputError,
  );
});

pin("presents the client certificate; the server sees its fingerprint", async (ctx) => {
  const [alpha, client] = [await keyPair("alpha"), await keyPair("client")];
  ctx.seen.length = 0;
  await get(
    ctx,
    pinnedTlsOptions({ fingerprint: alpha.fingerprint, cert: client.cert, key: client.key }),
  );
  await get(ctx, pinnedTlsOptions({ fingerprint: alpha.fingerprint, peerCert: alpha.cert }));
  assert.equal(ctx.seen, [client.fingerprint, undefined]);
});

pin("builds one TLS context per certificate and reuses it for every dial", async (ctx) => {
  const [alpha, client, other] = [
    await keyPair("alpha"),
    await keyPair("client"),
    await keyPair("other"),
  ];
  const options = () =>
    pinnedTlsOptions({ fingerprint: alpha.fingerprint, cert: client.cert, key: client.key });
  const [a, b] = [options(), options()];
  assert.ok(a.secureContext, "a context is built");
  assert.is(a.secureContext, b.secureContext, "the same certificate shares one context");
  const byCert = (cert: string, key: string) =>
    pinnedTlsOptions({ fingerprint: alpha.fingerprint, peerCert: alpha.cert, cert, key });
  assert.is(
    byCert(client.cert, client.key).secureContext,
    byCert(client.cert, client.key).secureContext,
  );
  assert.is.not(byCert(client.cert, client.key).secureContext, a.secureContext, "another CA");
  const renewed = pinnedTlsOptions({
    fingerprint: alpha.fingerprint,
    cert: other.cert,
    key: other.key,
  });
  assert.is.not(renewed.secureContext, a.secureContext, "a changed certificate gets its own");
  // Connections made with the shared context present the certificate it holds.
  ctx.seen.length = 0;
  await get(ctx, a);
  await get(ctx, b);
  await get(ctx, renewed);
  await get(ctx, byCert(client.cert, client.key));
  assert.equal(ctx.seen, [
    client.fingerprint,
    client.fingerprint,
    other.fingerprint,
    client.fingerprint,
  ]);
  // A key that does not parse throws nowhere near here (Node builds no context, Deno builds its
  // context lazily): what the dial does with it is as before.
  pinnedTlsOptions({ fingerprint: alpha.fingerprint, cert: client.cert, key: "x" });
});

function wsOpen(ctx: Ctx, tls: PinnedTlsOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${ctx.port}/`, { ...tls, perMessageDeflate: false });
    ws.on("close", (code, reason) => resolve(`${code} ${reason}`));
    ws.on("error", reject);
  });
}

pin("works for the ws client, accepting and rejecting", async (ctx) => {
  const [alpha, beta] = [await keyPair("alpha"), await keyPair("beta")];
  assert.is(await wsOpen(ctx, pinnedTlsOptions({ fingerprint: alpha.fingerprint })), "1000 bye");
  const byCert = pinnedTlsOptions({ fingerprint: alpha.fingerprint, peerCert: alpha.cert });
  assert.is(await wsOpen(ctx, byCert), "1000 bye");
  assert.instance(
    await rejected(wsOpen(ctx, pinnedTlsOptions({ fingerprint: beta.fingerprint }))),
    ForbiddenError,
  );
  const wrong = pinnedTlsOptions({ fingerprint: beta.fingerprint, peerCert: beta.cert });
  assert.ok((await rejected(wsOpen(ctx, wrong))) instanceof Error);
});

pin.run();
