/**
 * Fixtures for the WebSocket transport tests: members on 127.0.0.1 that serve the shared
 * cluster certificate, present their own member certificate, and record what they receive.
 *
 * @module
 */
import { once } from "node:events";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import type { Frame, Transport } from "../../lib/cluster/transport.ts";
import type { Logger } from "../../lib/log.ts";
import type { KeyPair } from "../../lib/net/certificates.ts";
import { serveHttps } from "../../lib/net/serve.ts";
import type { Listener } from "../../lib/net/serve.ts";
import WebSocket from "ws";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { createWsTransport, GOSSIP_PATH } from "../../gossip/ws_transport.ts";
import type { WsTransport, WsTransportOptions } from "../../gossip/ws_transport.ts";
import { keyPair, memoryLogger } from "../net/_helpers.ts";

/** One member under test. */
export interface WsMember {
  readonly name: string;
  readonly pair: KeyPair;
  readonly listener: Listener;
  readonly transport: WsTransport;
  /** Frames received, in order, with the certificate fingerprint the transport vouched for. */
  readonly inbox: { from: string; frame: Frame; peer?: string }[];
  /** Addresses reported as refused. */
  readonly refused: string[];
  /** Parsed log lines (debug and up). */
  readonly lines: Record<string, unknown>[];
  readonly logger: Logger;
  close(): Promise<void>;
}

/** The cluster certificate every member's listener serves. */
export function clusterPair(): Promise<KeyPair> {
  return keyPair("cluster");
}

/**
 * Opens a raw gossip WebSocket to `port` with `client`'s certificate, advertising 127.0.0.1:1 (a
 * client that is no transport: it reads and sends what the test says); resolves once open.
 */
export async function openRaw(port: number, client: string): Promise<WebSocket> {
  const cluster = await clusterPair();
  const pair = await keyPair(client);
  const ws = new WebSocket(`wss://127.0.0.1:${port}${GOSSIP_PATH}`, {
    ...pinnedTlsOptions({ fingerprint: cluster.fingerprint, cert: pair.cert, key: pair.key }),
    perMessageDeflate: false,
    headers: { "x-cohort-address": "127.0.0.1:1" },
  });
  ws.on("error", () => {});
  await once(ws, "open");
  return ws;
}

/**
 * Starts a member: an HTTPS listener answering 404 with the cluster certificate and a transport
 * on it presenting `name`'s certificate. `trust` is read live, so tests may edit it.
 */
export async function startMember(
  name: string,
  trust: Set<string>,
  overrides: Partial<WsTransportOptions> = {},
): Promise<WsMember> {
  const [cluster, pair] = [await clusterPair(), await keyPair(name)];
  const { logger, lines } = memoryLogger();
  const listener = await serveHttps({
    host: "127.0.0.1",
    port: 0,
    cert: cluster.cert,
    key: cluster.key,
    handler: () => Promise.resolve(new Response("not found", { status: 404 })),
    closeGraceMs: 100,
  });
  const transport = createWsTransport({
    server: listener.server,
    address: listener.address,
    cert: pair.cert,
    key: pair.key,
    serverFingerprint: cluster.fingerprint,
    isTrusted: (fp) => trust.has(fp),
    logger,
    connectTimeoutMs: 1000,
    ...overrides,
  });
  const inbox: { from: string; frame: Frame; peer?: string }[] = [];
  const refused: string[] = [];
  transport.listen({
    message: (from, frame, peer) => void inbox.push({ from, frame, peer }),
    refused: (to) => void refused.push(to),
  });
  return {
    name,
    pair,
    listener,
    transport,
    inbox,
    refused,
    lines,
    logger,
    close: async () => {
      await transport.close();
      await listener.close();
    },
  };
}

/** Polls `cond` every 10 ms; throws with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Log lines whose message matches `re`. */
export function logged(member: WsMember, re: RegExp): Record<string, unknown>[] {
  return member.lines.filter((line) => re.test(String(line.msg)));
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Waits until every frame sent (and not dropped) between the two members has been received, or
 * until nothing moved for `quietMs` (frames to the dead address never arrive; a refusal comes
 * back within a round trip on loopback), or for `owedMs` while a frame sent to the other member
 * is neither received nor dropped (it may be queued behind a TLS handshake, which moves no
 * counter: under load one outlasted 250 ms); at most `maxMs`.
 */
async function settlePair(
  a: WsMember,
  b: WsMember,
  quietMs = 250,
  maxMs = 5000,
  owedMs = 2000,
): Promise<void> {
  const deadline = Date.now() + maxMs;
  const snapshot = () => {
    const [sa, sb] = [a.transport.stats(), b.transport.stats()];
    return [
      sa.framesSent,
      sa.framesReceived,
      sa.dropped,
      sa.refused,
      sb.framesSent,
      sb.framesReceived,
      sb.dropped,
      sb.refused,
    ].join();
  };
  let last = snapshot();
  let quietSince = Date.now();
  await sleep(10);
  while (Date.now() < deadline) {
    const [sa, sb] = [a.transport.stats(), b.transport.stats()];
    const balanced = sa.framesSent - sa.dropped === sb.framesReceived &&
      sb.framesSent - sb.dropped === sa.framesReceived;
    if (balanced && sa.framesSent + sb.framesSent > 0) return;
    const now = snapshot();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= (balanced ? quietMs : owedMs)) return;
    await sleep(10);
  }
}

/**
 * The transport contract's pair (see `transport_contract.ts`) on two members with real mTLS
 * sockets: a closed port as the dead address, a settle that waits (in real time) until the
 * traffic in flight has arrived. `wrap` decorates each member's transport as a daemon does.
 */
export async function wsPair(wrap: (t: WsTransport) => Transport = (t) => t) {
  const trust = new Set<string>();
  for (const name of ["alpha", "beta"]) trust.add((await keyPair(name)).fingerprint);
  const a = await startMember("alpha", trust, { connectTimeoutMs: 2000 });
  const b = await startMember("beta", trust, { connectTimeoutMs: 2000 });
  return {
    a: wrap(a.transport),
    b: wrap(b.transport),
    deadAddress: `127.0.0.1:${await closedPort()}`,
    // The fingerprint of the client certificate alpha dials with.
    aIdentity: a.pair.fingerprint,
    settle: () => settlePair(a, b),
    crashB: () => b.close(),
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}
