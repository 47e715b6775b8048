/**
 * Where key pairs are made: in this process, or in a short-lived child process.
 *
 * The X.509 library (with its ASN.1 schemas and dependency-injection container) keeps about
 * 9 MB resident in a process that has loaded it once, and loading it costs 150–250 ms. A member
 * needs it only while it is initialised (bootstrap or join), so a daemon that starts
 * uninitialised starts a {@link startCertificateProcess child} at once: the library loads there
 * while nobody waits, the join's certificate then takes milliseconds, and the child exits once
 * the member is initialised, taking the memory with it. Should the child fail in any way, the
 * issuer falls back to generating in this process, so issuing never fails for that reason.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { monotonicNow } from "../cluster/monotonic_now.ts";
import { InvalidInputError } from "../errors.ts";
import { silentLogger } from "../log.ts";
import type { Logger } from "../log.ts";
import { moduleCommand } from "../runtime.ts";
import type { CertAnswer } from "./cert_process.ts";
import { generateCertificate } from "./certificates.ts";
import type { CertificateSpec, KeyPair } from "./certificates.ts";
import { deadlineIn } from "./late_deadline.ts";

/** Makes key pairs (the contract of {@link generateCertificate}). */
export interface CertificateIssuer {
  /**
   * Creates a self-signed key pair for `spec`.
   *
   * @throws {InvalidInputError} when a name or address is neither a host name nor an IP
   *   literal, or `days` is not a positive integer
   */
  issue(spec: CertificateSpec): Promise<KeyPair>;
  /** Releases what the issuer holds (ends its child process at once). Idempotent. */
  close(): void;
}

/** Issues key pairs in this process. */
export const inProcessIssuer: CertificateIssuer = Object.freeze({
  issue: generateCertificate,
  close() {},
});

/** Options of {@link startCertificateProcess}. */
export interface CertificateProcessOptions {
  /** Logs the fallback to in-process generation. @default silent */
  logger?: Logger;
  /** How long one answer (the library load included) may take before falling back, ms. @default 10000 */
  timeoutMs?: number;
  /** The child's command; for tests. @default the certificate process on this runtime */
  command?: { command: string; args: string[] };
}

/**
 * The environment of the certificate process (`undefined`: this process's, as it is): this
 * process's without the variables that only configure the verification of TLS peers, which the
 * child never does (it makes key pairs and self-signed certificates). Node reads and parses the
 * file `NODE_EXTRA_CA_CERTS` names before any code runs: with the system bundle (144
 * certificates, as some machines set it) that was a quarter of the child's CPU until ready
 * (160 → 120 ms) and 1.2 MB resident, paid at every uninitialised member's start. Exported for
 * tests.
 */
export function childEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> | undefined {
  try {
    if (!CHILD_DROPS.some((name) => env[name] !== undefined)) return undefined;
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(env)) {
      if (value !== undefined && !CHILD_DROPS.includes(name)) out[name] = value;
    }
    return out;
  } catch {
    return undefined; // an environment this process may not read (Deno without --allow-env)
  }
}

/** What {@link childEnv} leaves out. */
const CHILD_DROPS = ["NODE_EXTRA_CA_CERTS"];

interface Pending {
  readonly spec: CertificateSpec;
  readonly resolve: (pair: KeyPair) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Starts the certificate child process and returns an issuer using it. The child loads the
 * X.509 library at once; requests made before it is ready wait for it. After {@link
 * CertificateIssuer.close} (or any failure of the child), requests are served in this process.
 */
export function startCertificateProcess(
  options: CertificateProcessOptions = {},
): CertificateIssuer {
  const logger = options.logger ?? silentLogger;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let child: ChildProcess | undefined;
  let failed = false;
  let spawnedAt = 0;

  /** Stops using the child (closed, or it failed: then `why` says how). */
  const retire = (why?: string, err?: unknown) => {
    if (failed) return;
    failed = true;
    if (why) logger.warn("Certificate process failed; generating in this process", { why, err });
    stop();
    // Requests in flight are served here instead: the caller never sees the child's trouble.
    for (const [id, p] of pending) {
      pending.delete(id);
      generateCertificate(p.spec).then(p.resolve, p.reject);
    }
  };

  const stop = () => {
    const c = child;
    child = undefined;
    if (!c) return;
    c.stdin?.end();
    // The child holds nothing worth finishing (requests in flight are served here now), and one
    // still loading the library reads stdin's end only once loaded, possibly after this process
    // has exited: end it now. SIGKILL follows should it outlive the signal, by PID: under Deno a
    // child process object takes no second signal. A child that has exited is signalled no more
    // (its PID may be another process's by now).
    if (c.exitCode !== null || c.signalCode !== null) return;
    const signal = (name: "SIGTERM" | "SIGKILL") => {
      try {
        if (c.pid !== undefined) process.kill(c.pid, name);
      } catch { /* already gone */ }
    };
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), 2000);
    timer.unref?.();
    c.once("exit", () => clearTimeout(timer));
  };

  try {
    const file = fileURLToPath(
      new URL(
        import.meta.url.endsWith(".ts") ? "./cert_process.ts" : "./cert_process.js",
        import.meta.url,
      ),
    );
    const { command, args } = options.command ?? moduleCommand(file);
    spawnedAt = monotonicNow();
    child = spawn(command, args, { stdio: ["pipe", "pipe", "ignore"], env: childEnv() });
  } catch (err) {
    retire("spawn failed", err);
    return issuerFor();
  }
  const c = child;
  c.on("error", (err) => retire("process error", err));
  if (!c.stdin || !c.stdout) {
    // Deno reports a failed spawn with no pipes (and the error event later).
    retire("spawn failed");
    return issuerFor();
  }
  // An idle child must never keep the member's process alive; one with a request in flight
  // must, or the process could exit while awaiting the answer.
  const hold = (on: boolean) => {
    for (const h of [c, c.stdin, c.stdout] as unknown as { ref?(): void; unref?(): void }[]) {
      try {
        if (on) h?.ref?.();
        else h?.unref?.();
      } catch {
        // Deno's handle of a process that failed to spawn throws here; its error event follows.
      }
    }
  };
  hold(false);
  c.on("exit", (code, signal) => {
    if (child === c) retire(`exited (${signal ?? code})`);
  });
  c.stdin!.on("error", (err) => retire("stdin error", err));
  let rest = "";
  c.stdout!.setEncoding("utf8");
  c.stdout!.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      let answer: CertAnswer;
      try {
        answer = JSON.parse(line) as CertAnswer;
      } catch {
        return retire("unreadable answer");
      }
      if ("ready" in answer) {
        logger.debug("Certificate process ready", {
          took_ms: Math.round(monotonicNow() - spawnedAt),
        });
        continue;
      }
      const p = pending.get(answer.id);
      if (!p) continue;
      pending.delete(answer.id);
      if (pending.size === 0) hold(false);
      if ("pair" in answer) p.resolve(answer.pair);
      else {
        p.reject(
          new InvalidInputError(answer.error.message, { field: answer.error.field }),
        );
      }
    }
  });

  function issuerFor(): CertificateIssuer {
    return {
      issue(spec: CertificateSpec): Promise<KeyPair> {
        if (failed || !child) return generateCertificate(spec);
        return new Promise<KeyPair>((resolve, reject) => {
          const id = nextId++;
          // A loop held past the deadline runs it before it reads the child's answer: what
          // arrived in time is taken first (late_deadline.ts).
          const deadline = deadlineIn(timeoutMs, () => retire("no answer in time"));
          if (pending.size === 0) hold(true);
          pending.set(id, {
            spec,
            resolve: (pair) => (deadline.clear(), resolve(pair)),
            reject: (err) => (deadline.clear(), reject(err)),
          });
          child!.stdin!.write(JSON.stringify({ id, spec }) + "\n");
        });
      },
      close(): void {
        retire(); // later requests are served in this process
      },
    };
  }
  return issuerFor();
}
