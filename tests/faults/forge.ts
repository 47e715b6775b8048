/**
 * The attacker of the replays: a process run inside a node's namespace that opens the gossip
 * WebSocket of a member (`wss://ADDRESS/core/internal/gossip`) with mutual TLS under a given
 * identity, like a member turned hostile or a stolen certificate, and sends raw frames.
 *
 * Usage (with the test's runtime, e.g. through `moduleCommand`):
 * `forge.ts --to HOST:PORT --cluster-cert FILE --cert FILE --key FILE --from HOST:PORT
 * --frames FILE` with the frames as JSON lines in FILE. Prints one JSON line: `{"status":101,"sent":N}` when the
 * upgrade succeeded and the frames were written, or `{"status":403,"sent":0}` (any refusal).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { fingerprint } from "../../lib/net/certificates.ts";
import { pinnedTlsOptions } from "../../lib/net/pin.ts";
import { isMainModule } from "../../lib/runtime.ts";

/** What {@link forge} reports. */
export interface ForgeResult {
  /** HTTP status of the upgrade: 101 when accepted, 0 when no answer. */
  status: number;
  /** Frames written (after the upgrade). */
  sent: number;
  /** Close code when the peer closed the socket before the attacker did (1009: too big). */
  closed?: number;
  error?: string;
}

/** Opens the gossip socket of `to` as `cert`/`key` and sends `frames`; see the module doc. */
export function forge(o: {
  to: string;
  from: string;
  clusterCert: string;
  cert: string;
  key: string;
  frames: string[];
}): Promise<ForgeResult> {
  return new Promise((done) => {
    const tls = pinnedTlsOptions({
      fingerprint: fingerprint(o.clusterCert),
      peerCert: o.clusterCert,
      cert: o.cert,
      key: o.key,
    });
    const ws = new WebSocket(`wss://${o.to}/core/internal/gossip`, {
      ...tls,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      maxPayload: 64 * 1024 * 1024,
      headers: { "x-cohort-address": o.from },
    });
    let settled = false;
    const finish = (r: ForgeResult) => {
      if (settled) return;
      settled = true;
      done(r);
      ws.terminate();
    };
    ws.on("unexpected-response", (_req, res) => finish({ status: res.statusCode ?? 0, sent: 0 }));
    ws.on("error", (err) => finish({ status: 0, sent: 0, error: String(err) }));
    let sent = 0;
    ws.on("close", (code) => finish({ status: 101, sent, closed: code }));
    ws.on("open", () => {
      for (const f of o.frames) {
        ws.send(f, () => {
          sent++;
          // Written to the socket; give the peer a moment to read before the close.
          if (sent === o.frames.length) setTimeout(() => finish({ status: 101, sent }), 500);
        });
      }
      if (o.frames.length === 0) finish({ status: 101, sent: 0 });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      to: { type: "string" },
      from: { type: "string" },
      "cluster-cert": { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      frames: { type: "string" },
    },
  });
  // A file, not stdin: a pipe of megabytes read synchronously fails with EAGAIN.
  const input = readFileSync(values.frames!, "utf8");
  const frames = input.split("\n").filter((l) => l.trim() !== "");
  const result = await forge({
    to: values.to!,
    from: values.from!,
    clusterCert: readFileSync(values["cluster-cert"]!, "utf8"),
    cert: readFileSync(values.cert!, "utf8"),
    key: readFileSync(values.key!, "utf8"),
    frames,
  });
  console.log(JSON.stringify(result));
  process.exit(0);
}

if (isMainModule(import.meta)) await main();
