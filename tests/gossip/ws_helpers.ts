/**
 * Fixtures for the WebSocket transport tests: members on 127.0.0.1 that serve the shared
 * cluster certificate, present their own member certificate, and record what they receive.
 *
 * @module
 */
import type { Frame } from "../../lib/cluster/membership.ts";
import type { Logger } from "../../lib/log.ts";
import type { KeyPair } from "../../lib/net/certificates.ts";
import { serveHttps } from "../../lib/net/serve.ts";
import type { Listener } from "../../lib/net/serve.ts";
import { createWsTransport } from "../../gossip/ws_transport.ts";
import type { WsTransport, WsTransportOptions } from "../../gossip/ws_transport.ts";
import { keyPair, memoryLogger } from "../net/_helpers.ts";

/** One member under test. */
export interface WsMember {
  readonly name: string;
  readonly pair: KeyPair;
  readonly listener: Listener;
  readonly transport: WsTransport;
  /** Frames received, in order. */
  readonly inbox: { from: string; frame: Frame }[];
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
  const inbox: { from: string; frame: Frame }[] = [];
  const refused: string[] = [];
  transport.listen({
    message: (from, frame) => void inbox.push({ from, frame }),
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
