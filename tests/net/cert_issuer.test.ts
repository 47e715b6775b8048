/**
 * The certificate-issuer seam: one contract for both issuers (in this process, and in the
 * certificate child process), plus the child's fallbacks: a child that cannot start, dies, or
 * was closed never makes issuing fail.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { InvalidInputError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import { silentLogger } from "../../lib/log.ts";
import {
  type CertificateIssuer,
  inProcessIssuer,
  startCertificateProcess,
} from "../../lib/net/cert_issuer.ts";
import { certificateNames, fingerprint } from "../../lib/net/certificates.ts";
import { isDeno, moduleCommand } from "../../lib/runtime.ts";

/** A logger that keeps the messages of warnings. */
function warnings(): { logger: Logger; seen: string[] } {
  const seen: string[] = [];
  const logger: Logger = {
    level: silentLogger.level,
    debug() {},
    info() {},
    warn: (msg: string) => void seen.push(msg),
    error() {},
    child: () => logger,
  };
  return { logger, seen };
}

/** The built (under Node: bundled) certificate process, as a daemon from `dist/` runs it. */
const built = fileURLToPath(new URL("../../dist/lib/net/cert_process.js", import.meta.url));

const issuers: [string, (logger: Logger) => CertificateIssuer][] = [
  ["in this process", () => inProcessIssuer],
  ["in the certificate process", (logger) => startCertificateProcess({ logger })],
  [
    "in the built certificate process",
    (logger) => startCertificateProcess({ logger, command: moduleCommand(built) }),
  ],
];

for (const [label, make] of issuers) {
  const contract = suite<{ issuer: CertificateIssuer; seen: string[] }>(
    `certificate issuer: ${label}`,
  );
  contract.before((ctx) => {
    const { logger, seen } = warnings();
    ctx.issuer = make(logger);
    ctx.seen = seen;
  });
  contract.after((ctx) => ctx.issuer.close());

  contract("issues a pair whose key matches, names and fingerprint are right", async (ctx) => {
    const pair = await ctx.issuer.issue({ name: "alpha", addresses: ["127.0.0.1", "::1"] });
    const cert = new X509Certificate(pair.cert);
    assert.ok(cert.checkPrivateKey(createPrivateKey(pair.key)));
    assert.is(cert.ca, false);
    assert.is(pair.fingerprint, fingerprint(pair.cert));
    assert.equal(certificateNames(pair.cert), { dns: ["alpha"], ip: ["127.0.0.1", "::1"] });
  });

  contract("every pair is new", async (ctx) => {
    const [a, b] = await Promise.all([
      ctx.issuer.issue({ name: "beta" }),
      ctx.issuer.issue({ name: "beta" }),
    ]);
    assert.is.not(a.fingerprint, b.fingerprint);
    assert.is.not(a.key, b.key);
  });

  contract("a bad name is an InvalidInputError naming the field", async (ctx) => {
    try {
      await ctx.issuer.issue({ name: "not a name!" });
      assert.unreachable("expected a refusal");
    } catch (err) {
      assert.instance(err, InvalidInputError);
      assert.is((err as InvalidInputError).field, "name");
      assert.match((err as Error).message, /neither a host name nor an IP address/);
    }
  });

  contract("bad days are an InvalidInputError naming the field", async (ctx) => {
    try {
      await ctx.issuer.issue({ name: "gamma", days: 0 });
      assert.unreachable("expected a refusal");
    } catch (err) {
      assert.instance(err, InvalidInputError);
      assert.is((err as InvalidInputError).field, "days");
    }
  });

  contract("issued where it says: no fallback to this process was needed", (ctx) => {
    assert.equal(ctx.seen, []);
  });

  contract.run();
}

const fallback = suite("certificate process fallbacks");

/** Starts the process as `command`, and checks a pair is issued here with one warning. */
async function issuedHereAfterFailure(
  command: { command: string; args: string[] },
  timeoutMs?: number,
): Promise<void> {
  const { logger, seen } = warnings();
  const issuer = startCertificateProcess({ logger, command, timeoutMs });
  const pair = await issuer.issue({ name: "delta" });
  assert.is(pair.fingerprint, fingerprint(pair.cert));
  issuer.close();
  assert.equal(seen, ["Certificate process failed; generating in this process"]);
}

fallback("a child that cannot start: issued here, with one warning", async () => {
  await issuedHereAfterFailure({ command: "/nonexistent/cohort-cert-process", args: [] });
});

fallback("a child that exits at once: issued here, with one warning", async () => {
  await issuedHereAfterFailure(
    isDeno
      ? { command: process.execPath, args: ["eval", "Deno.exit(3)"] }
      : { command: process.execPath, args: ["-e", "process.exit(3)"] },
  );
});

fallback("a child that never answers: issued here after the timeout", async () => {
  await issuedHereAfterFailure(
    isDeno
      ? {
        command: process.execPath,
        args: ["eval", "await new Promise(() => setInterval(() => {}, 1000))"],
      }
      : { command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] },
    300,
  );
});

fallback("after close, pairs are issued here, silently", async () => {
  const { logger, seen } = warnings();
  const issuer = startCertificateProcess({ logger });
  issuer.close();
  const pair = await issuer.issue({ name: "eta" });
  assert.is(pair.fingerprint, fingerprint(pair.cert));
  assert.equal(seen, []);
});

fallback.run();
