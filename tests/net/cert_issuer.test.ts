/**
 * The certificate-issuer seam: one contract for both issuers (in this process, and in the
 * certificate child process), plus the child's fallbacks: a child that cannot start, dies, or
 * was closed never makes issuing fail.
 */
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { suite } from "../helpers/suite.ts";
import * as assert from "uvu/assert";
import { InvalidInputError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import { silentLogger } from "../../lib/log.ts";
import {
  type CertificateIssuer,
  childEnv,
  inProcessIssuer,
  startCertificateProcess,
} from "../../lib/net/cert_issuer.ts";
import { certificateNames, fingerprint } from "../../lib/net/certificates.ts";
import { isDeno, moduleCommand } from "../../lib/runtime.ts";
import { tempDir } from "../helpers/process.ts";

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

/** Whether process `pid` runs (a zombie, ended but not yet reaped by init, does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return existsSync("/proc/self") ? false : true;
  }
}

fallback("a child still loading when its parent closes and exits is ended too", async () => {
  // As a member stopped right after it started: its child, still loading the library, does not
  // read stdin's end, and the parent's own backstop dies with the parent. The stand-in child
  // never reads stdin at all.
  const dir = tempDir("cohort-cert-orphan-");
  const pidFile = join(dir, "child.pid");
  let pid = 0;
  try {
    const child = isDeno
      ? {
        command: process.execPath,
        args: [
          "eval",
          `Deno.writeTextFileSync(${JSON.stringify(pidFile)}, String(Deno.pid));
setInterval(() => {}, 1000);`,
        ],
      }
      : {
        command: process.execPath,
        args: [
          "-e",
          `require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
setInterval(() => {}, 1000);`,
        ],
      };
    const parent = join(dir, "parent.mts");
    writeFileSync(
      parent,
      `import { existsSync } from "node:fs";
import { startCertificateProcess } from ${
        JSON.stringify(new URL("../../lib/net/cert_issuer.ts", import.meta.url).href)
      };
const issuer = startCertificateProcess({ command: ${JSON.stringify(child)} });
while (!existsSync(${JSON.stringify(pidFile)})) await new Promise((r) => setTimeout(r, 20));
issuer.close();
`,
    );
    const { command, args } = moduleCommand(parent);
    execFileSync(command, args, { stdio: "ignore", timeout: 60_000 });
    assert.ok(existsSync(pidFile), "the child started");
    pid = Number(readFileSync(pidFile, "utf8"));
    const deadline = Date.now() + 15_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.not.ok(alive(pid), "the child outlived its parent");
  } finally {
    if (pid && alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

fallback("a child that outlives SIGTERM is killed 2 s after close", async () => {
  // The issuer's backstop: SIGTERM first, SIGKILL should the child outlive it. Under Deno a
  // child process object takes no second signal once it was sent one (kill() returns false):
  // the SIGKILL never reached it.
  const dir = tempDir("cohort-cert-stubborn-");
  const pidFile = join(dir, "child.pid");
  const issuer = startCertificateProcess({
    command: isDeno
      ? {
        command: process.execPath,
        args: [
          "eval",
          `Deno.addSignalListener("SIGTERM", () => {});
Deno.writeTextFileSync(${JSON.stringify(pidFile)}, String(Deno.pid));
setInterval(() => {}, 1000);`,
        ],
      }
      : {
        command: process.execPath,
        args: [
          "-e",
          `process.on("SIGTERM", () => {});
require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
setInterval(() => {}, 1000);`,
        ],
      },
  });
  let pid = 0;
  try {
    for (let i = 0; i < 600 && !existsSync(pidFile); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(existsSync(pidFile), "the child started");
    pid = Number(readFileSync(pidFile, "utf8"));
    issuer.close();
    const deadline = Date.now() + 12_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.not.ok(alive(pid), "the child outlived SIGTERM and was never killed");
  } finally {
    issuer.close();
    if (pid && alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

fallback.run();

const environment = suite("certificate process environment");

environment("childEnv drops NODE_EXTRA_CA_CERTS and keeps the rest", () => {
  assert.equal(childEnv({ PATH: "/bin", NODE_EXTRA_CA_CERTS: "/etc/ca.pem", X: undefined }), {
    PATH: "/bin",
  });
  assert.is(childEnv({ PATH: "/bin" }), undefined, "nothing to drop: the environment inherited");
});

/** A stand-in child that answers every request with the two variables it sees, as an error. */
const envReporter = isDeno
  ? {
    command: process.execPath,
    args: [
      "eval",
      `const enc = new TextEncoder();
const seen = () => (Deno.env.get("NODE_EXTRA_CA_CERTS") ?? "unset") + "|" +
  (Deno.env.get("COHORT_ENV_PROBE") ?? "unset");
await Deno.stdout.write(enc.encode(JSON.stringify({ ready: true }) + "\\n"));
let buf = "";
for await (const chunk of Deno.stdin.readable) {
  buf += new TextDecoder().decode(chunk);
  for (let i = buf.indexOf("\\n"); i >= 0; i = buf.indexOf("\\n")) {
    const { id } = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    await Deno.stdout.write(enc.encode(JSON.stringify({ id, error: { message: seen() } }) + "\\n"));
  }
}`,
    ],
  }
  : {
    command: process.execPath,
    args: [
      "-e",
      `const seen = () => (process.env.NODE_EXTRA_CA_CERTS ?? "unset") + "|" +
  (process.env.COHORT_ENV_PROBE ?? "unset");
process.stdout.write(JSON.stringify({ ready: true }) + "\\n");
require("node:readline").createInterface({ input: process.stdin }).on("line", (line) => {
  const { id } = JSON.parse(line);
  process.stdout.write(JSON.stringify({ id, error: { message: seen() } }) + "\\n");
});`,
    ],
  };

environment("the child starts without NODE_EXTRA_CA_CERTS, with the rest", async () => {
  // The child makes no TLS connection: the CA file Node would parse at its start is pure cost.
  const before = {
    ca: process.env.NODE_EXTRA_CA_CERTS,
    probe: process.env.COHORT_ENV_PROBE,
  };
  process.env.NODE_EXTRA_CA_CERTS = "/nonexistent/cohort-extra-ca.pem";
  process.env.COHORT_ENV_PROBE = "kept";
  const issuer = startCertificateProcess({ command: envReporter });
  try {
    const err = await issuer.issue({ name: "theta" }).then(() => undefined, (e) => e);
    assert.instance(err, InvalidInputError);
    assert.is((err as Error).message, "unset|kept");
  } finally {
    issuer.close();
    for (
      const [name, value] of [["NODE_EXTRA_CA_CERTS", before.ca], [
        "COHORT_ENV_PROBE",
        before.probe,
      ]] as const
    ) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

environment.run();
