/**
 * `?target=NAME` on an app endpoint (MicroCluster's `ProxyTarget`): the request goes to member
 * NAME over mutual TLS, this member's certificate presented and NAME pinned to the cluster
 * certificate, and its answer comes back as it was (status, headers, body).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { readFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { isCohortError, NotFoundError, UnavailableError } from "../errors.ts";
import { fingerprint } from "../net/certificates.ts";
import { deadlineIn } from "../net/late_deadline.ts";
import { readRequestBody } from "../net/node_request.ts";
import { pinnedTlsOptions } from "../net/pin.ts";
import type { MemberService } from "../daemon/service.ts";

/** The header naming the member that forwarded a request. */
export const FORWARDED_BY = "x-cohort-forwarded-by";

/** How long a forwarded request may take, whole, in ms. */
export const FORWARD_TIMEOUT_MS = 30_000;
/** The largest forwarded answer, in bytes. */
export const FORWARD_MAX_BYTES = 16 * 1024 * 1024;

/** Headers that belong to one connection, never forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "te",
  "trailer",
]);

/** Sends app requests to other members; see the module docs. */
export type Forwarder = (target: string, request: Request) => Promise<Response>;

/** Options of {@link httpsForwarder}. */
export interface ForwarderOptions {
  /** How long a forwarded request may take, whole, in ms; default {@link FORWARD_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/**
 * The forwarder of the member whose state directory is `dir` (its `server.crt`/`server.key` are
 * presented, `cluster.crt` pinned); `member` finds the target's address in its cluster list.
 */
export function httpsForwarder(
  dir: string,
  member: MemberService,
  options: ForwarderOptions = {},
): Forwarder {
  const timeoutMs = options.timeoutMs ?? FORWARD_TIMEOUT_MS;
  return async (target, request) => {
    const entries = await member.clusterMembers();
    const entry = entries.find((e) => e.name === target);
    if (!entry) throw new NotFoundError(`No member named "${target}" to forward the request to`);
    const [cert, key, clusterCert] = await Promise.all(
      ["server.crt", "server.key", "cluster.crt"].map((f) => readFile(join(dir, f), "utf8")),
    );
    const tls = pinnedTlsOptions({
      fingerprint: fingerprint(clusterCert),
      cert,
      key,
    });
    const bytes = request.method === "GET" || request.method === "HEAD"
      ? undefined
      : await readRequestBody(request, FORWARD_MAX_BYTES);
    const body = bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      if (!HOP_BY_HOP.has(name) && name !== FORWARDED_BY) headers[name] = value;
    });
    headers[FORWARDED_BY] = member.info().name;
    if (body) headers["content-length"] = String(body.length);
    const url = new URL(request.url);
    const what = `member "${target}" at ${entry.address}`;
    try {
      return await send(`https://${entry.address}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body,
        tls,
        timeoutMs,
      });
    } catch (err) {
      if (isCohortError(err) && err.status !== 503) throw err;
      throw new UnavailableError(
        `Cannot forward the request to ${what}: ${(err as Error).message}`,
      );
    }
  };
}

function send(
  url: string,
  o: {
    method: string;
    headers: Record<string, string>;
    body: Buffer | undefined;
    tls: ReturnType<typeof pinnedTlsOptions>;
    timeoutMs: number;
  },
): Promise<Response> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      timer.clear();
      outgoing.destroy();
      reject(err);
    };
    const outgoing = httpsRequest(url, {
      ...o.tls,
      method: o.method,
      headers: o.headers,
      // `undefined` lets node:https use the pinning connection factory (see lib/net/client.ts).
      agent: o.tls.createConnection ? undefined : false,
    }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > FORWARD_MAX_BYTES) fail(new Error(`answer over ${FORWARD_MAX_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.once("error", fail);
      res.once("end", () => {
        if (settled) return;
        settled = true;
        timer.clear();
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined || HOP_BY_HOP.has(name)) continue;
          for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
        }
        const status = res.statusCode ?? 502;
        const nobody = status === 204 || status === 304 || o.method === "HEAD";
        resolve(new Response(nobody ? null : Buffer.concat(chunks), { status, headers }));
      });
    });
    // Late-aware: after a held loop the answer that arrived in time is read before this judges.
    const timer = deadlineIn(
      o.timeoutMs,
      () => fail(new Error(`no answer within ${o.timeoutMs} ms`)),
      { ref: true },
    );
    outgoing.once("error", (err) => fail(isCohortError(err) ? err : new Error(errorText(err))));
    outgoing.end(o.body);
  });
}

function errorText(err: Error): string {
  return (err as { code?: string }).code ?? err.message;
}
