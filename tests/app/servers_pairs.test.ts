/**
 * An extension server's key pair as an operator places it by hand (a copy, a backup restored)
 * into `STATE_DIR/certificates/NAME.crt|key` of a real app daemon (`fixtures/servers_app.ts`):
 * one server per case, all in one member. A pair that serves is served as it is; one that does
 * not is refused with a message naming the file (relative to the state directory: the message
 * crosses the wire) and the fault, in the log once and at `GET /core/1.0/daemon/servers`, and is
 * never replaced: clients may pin it. The member and its other servers keep running, and a pair
 * mended while the member runs is served without a restart.
 */
// deno-lint-ignore-file no-explicit-any
import { X509Certificate } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { connect } from "node:tls";
import * as assert from "uvu/assert";
import { suite } from "../helpers/suite.ts";
import { appCommand } from "../helpers/app.ts";
import {
  api,
  bootstrap,
  daemonArgs,
  eventually,
  type Member,
  newMember,
  stop,
} from "../helpers/cluster.ts";
import {
  freePort,
  lastLines,
  removeDir,
  startDaemonProcess,
  waitForSocket,
} from "../helpers/process.ts";
import {
  caPem,
  issue,
  newCa,
  newIntermediate,
  newKey,
  pairOf,
  pemKey,
  type PemPair,
  presented,
} from "../helpers/server_pairs.ts";

const APP = join(import.meta.dirname ?? ".", "fixtures/servers_app.ts");
/**
 * Whether the test runs as root (as CI does): the daemon then runs without root's power to read
 * and change any file (as a service's user would), and a key of another user can be placed.
 */
const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("servers_pairs: not root: the case of another user's key is left out");

/** The app's command, run as a service's user would run it (see {@link ROOT}). */
function command(): { command: string; args: string[] } {
  const app = appCommand(APP);
  if (!ROOT) return app;
  return {
    command: "setpriv",
    args: ["--bounding-set=-dac_override,-dac_read_search,-fowner", app.command, ...app.args],
  };
}
const DAY = 86_400_000;

/** One server and what its pair (if any) must lead to. */
interface Case {
  name: string;
  dedicated?: boolean;
  /** Places the server's files under `certs`; returns the pair it placed, if whole. */
  place?: (certs: string) => Promise<PemPair | void>;
  /** Served: presenting the placed pair's certificate (`placed`), a pair made now, or the cluster's. */
  serves?: "placed" | "made" | "cluster";
  /** Refused: what its error says (after the file it names). */
  refused?: RegExp;
  /** The file the refusal names. */
  file?: string;
}

let ca: Awaited<ReturnType<typeof newCa>>;
/** Writes what `pair` has of a pair for server `name` under `certs`; returns `pair`. */
function write(certs: string, name: string, pair: Partial<PemPair>, keyMode = 0o600) {
  const at = (ext: string) => join(certs, `${name}.${ext}`);
  if (pair.cert !== undefined) writeFileSync(at("crt"), pair.cert, { mode: 0o644 });
  if (pair.key !== undefined) writeFileSync(at("key"), pair.key, { mode: keyMode });
  return pair as PemPair;
}

const CASES: Case[] = [
  { name: "made", dedicated: true, serves: "made" },
  { name: "cluster", serves: "cluster" },
  {
    name: "good",
    dedicated: true,
    serves: "placed",
    place: async (c) => write(c, "good", await pairOf(ca, "good")),
  },
  {
    name: "rsa",
    serves: "placed",
    place: async (c) => write(c, "rsa", await pairOf(ca, "rsa", "rsa:2048")),
  },
  {
    name: "chain",
    serves: "placed",
    // The server's certificate, then the intermediate CA that issued it: a client that trusts
    // the root alone verifies it only if the whole chain is presented.
    place: async (c) => {
      const intermediate = await newIntermediate(ca);
      const p = await pairOf(intermediate, "chain");
      return write(c, "chain", { cert: p.cert + caPem(intermediate), key: p.key });
    },
  },
  {
    name: "mismatch",
    dedicated: true,
    file: "mismatch.key",
    refused: /is not the key of certificates\/mismatch\.crt/,
    place: async (c) => {
      const p = await pairOf(ca, "mismatch");
      write(c, "mismatch", { cert: p.cert, key: pemKey(newKey("ec:prime256v1").privateKey) });
    },
  },
  {
    name: "algorithm",
    file: "algorithm.key",
    refused:
      /is not the key of certificates\/algorithm\.crt: an RSA key of 2048 bits, the certificate's an EC P-256 key/,
    place: async (c) => {
      const p = await pairOf(ca, "algorithm");
      write(c, "algorithm", { cert: p.cert, key: pemKey(newKey("rsa:2048").privateKey) });
    },
  },
  {
    name: "secp256k1",
    file: "secp256k1.crt",
    refused: /EC secp256k1 key, which TLS clients do not accept/,
    place: async (c) => write(c, "secp256k1", await pairOf(ca, "secp256k1", "ec:secp256k1")),
  },
  {
    name: "rsa1024",
    file: "rsa1024.crt",
    refused: /RSA key of 1024 bits, which TLS clients do not accept/,
    place: async (c) => write(c, "rsa1024", await pairOf(ca, "rsa1024", "rsa:1024")),
  },
  {
    name: "nonpem",
    dedicated: true,
    file: "nonpem.key",
    refused: /is not a PEM private key/,
    place: async (c) => {
      const keys = newKey("ec:prime256v1");
      const der = keys.privateKey.export({ type: "pkcs8", format: "der" });
      write(c, "nonpem", { cert: await issue(ca, "nonpem", keys.publicKey), key: der as any });
    },
  },
  {
    name: "order",
    file: "order.key",
    refused:
      /the key of the file's certificate 2 \(CN=order\): put the server's own certificate first/,
    place: async (c) => {
      const p = await pairOf(ca, "order");
      write(c, "order", { cert: caPem(ca) + p.cert, key: p.key });
    },
  },
  {
    name: "expired",
    dedicated: true,
    file: "expired.crt",
    refused: /expired at 20\d\d-\d\d-\d\dT/,
    place: async (c) =>
      write(
        c,
        "expired",
        await pairOf(ca, "expired", undefined, {
          from: Date.now() - 30 * DAY,
          to: Date.now() - DAY,
        }),
      ),
  },
  {
    name: "early",
    file: "early.crt",
    refused: /is not valid before 20\d\d-\d\d-\d\dT/,
    place: async (c) =>
      write(
        c,
        "early",
        await pairOf(ca, "early", undefined, {
          from: Date.now() + 10 * DAY,
          to: Date.now() + 30 * DAY,
        }),
      ),
  },
  {
    name: "keymode",
    serves: "placed",
    place: async (c) => {
      const p = await pairOf(ca, "keymode");
      write(c, "keymode", p, 0o644);
      chmodSync(join(c, "keymode.key"), 0o644); // whatever the umask
      return p;
    },
  },
  {
    name: "unreadable",
    dedicated: true,
    file: "unreadable.key",
    refused: /cannot be read by this process \(permission denied\): give it to the member's user/,
    place: async (c) => {
      write(c, "unreadable", await pairOf(ca, "unreadable"));
      chmodSync(join(c, "unreadable.key"), 0o000);
    },
  },
  ...(ROOT
    ? [{
      name: "foreignkey",
      file: "foreignkey.key",
      refused: /is readable by other users \(mode 0644\) and this process cannot make it 0600/,
      place: async (c: string) => {
        write(c, "foreignkey", await pairOf(ca, "foreignkey"));
        chmodSync(join(c, "foreignkey.key"), 0o644);
        chownSync(join(c, "foreignkey.key"), 65534, 65534); // another user's
      },
    }]
    : []),
  {
    name: "crtdir",
    dedicated: true,
    file: "crtdir.crt",
    refused: /is a directory, not a file/,
    place: async (c) => {
      mkdirSync(join(c, "crtdir.crt"));
      write(c, "crtdir", { key: (await pairOf(ca, "crtdir")).key });
    },
  },
  {
    name: "lonecrt",
    dedicated: true,
    file: "lonecrt.key",
    refused: /is missing beside certificates\/lonecrt\.crt/,
    place: async (c) => write(c, "lonecrt", { cert: (await pairOf(ca, "lonecrt")).cert }),
  },
  {
    name: "lonekey",
    file: "lonekey.crt",
    refused: /is missing beside certificates\/lonekey\.key/,
    place: async (c) => write(c, "lonekey", { key: (await pairOf(ca, "lonekey")).key }),
  },
];

interface Ctx {
  m: Member;
  addresses: Record<string, string>;
  placed: Record<string, PemPair | void>;
  before: Record<string, string>;
}

const test = suite<Ctx>(
  "an extension server's pair placed by hand",
  {} as Ctx,
  (ctx) => ctx.m?.daemon ? lastLines(ctx.m.daemon, 60) : "no daemon",
);

/** The bytes of every file under certificates/ named for a case, to check nothing is replaced. */
function snapshot(certs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of CASES) {
    for (const ext of ["crt", "key"]) {
      const path = join(certs, `${c.name}.${ext}`);
      try {
        out[`${c.name}.${ext}`] = statSync(path).isFile() ? readFileSync(path, "latin1") : "dir";
      } catch {
        out[`${c.name}.${ext}`] = "absent";
      }
    }
  }
  return out;
}

const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

/** Whether a client trusting `root` alone verifies what `address` presents (else the error). */
function verified(address: string, root: string): Promise<string> {
  const [host, port] = address.split(":");
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(port), ca: [root] }, () => {
      s.destroy();
      resolve("verified");
    });
    s.on("error", (err: any) => resolve(`error: ${err.code ?? err.message}`));
  });
}

/** The servers' entries of `GET /core/1.0/daemon/servers`. */
async function listed(m: Member): Promise<Record<string, any>> {
  const res = await api(m, "GET", "/core/1.0/daemon/servers");
  assert.is(res.status, 200, JSON.stringify(res.body));
  return res.body.metadata;
}

test.before(async (ctx) => {
  ca = await newCa();
  ctx.m = await newMember("p1");
  const certs = join(ctx.m.dir, "certificates");
  mkdirSync(certs, { mode: 0o700 });
  ctx.addresses = {};
  ctx.placed = {};
  const wanted: Record<string, { address: string; dedicated?: boolean }> = {};
  for (const c of CASES) {
    ctx.addresses[c.name] = `127.0.0.1:${await freePort()}`;
    wanted[c.name] = { address: ctx.addresses[c.name]!, dedicated: c.dedicated };
    ctx.placed[c.name] = await c.place?.(certs);
  }
  ctx.before = snapshot(certs);
  ctx.m.daemon = startDaemonProcess(daemonArgs(ctx.m), command(), {
    COHORT_TEST_SERVERS: JSON.stringify(wanted),
  });
  await waitForSocket(ctx.m.dir, ctx.m.daemon);
  await bootstrap(ctx.m);
});

test.after(async (ctx) => {
  if (ctx.m) {
    await stop(ctx.m);
    removeDir(ctx.m.dir);
  }
});

test("each pair that holds together is served as placed; the others are refused, named, kept", async (ctx) => {
  const certs = join(ctx.m.dir, "certificates");
  // Every server has been tried: listening, or refused.
  const list = await eventually("every server tried", async () => {
    const l = await listed(ctx.m);
    const pending = CASES.filter((c) => !["listening", "failed"].includes(l[c.name]?.status));
    if (pending.length) throw new Error(`pending: ${JSON.stringify(l)}`);
    return l;
  }, 60_000);
  const cluster = fp(readFileSync(join(ctx.m.dir, "cluster.crt"), "utf8"));
  for (const c of CASES) {
    const entry = list[c.name];
    const at = ctx.addresses[c.name]!;
    assert.is(entry.address, at, c.name);
    if (c.serves) {
      assert.equal(entry, { address: at, status: "listening" }, c.name);
      const want = c.serves === "cluster"
        ? cluster
        : c.serves === "made"
        ? fp(readFileSync(join(certs, `${c.name}.crt`), "utf8"))
        : fp((ctx.placed[c.name] as PemPair).cert);
      assert.is(await presented(at), want, c.name);
    } else {
      assert.is(entry.status, "failed", c.name);
      assert.ok(entry.attempts >= 1, c.name);
      assert.ok(
        entry.error.startsWith(`certificates/${c.file} in the state directory `),
        `${c.name}: ${entry.error}`,
      );
      assert.match(entry.error, c.refused!, c.name);
      assert.not.match(entry.error, ctx.m.dir, `${c.name}: no path of the machine`);
      assert.is(await presented(at), "error: ECONNREFUSED", c.name);
    }
  }
  assert.is(await verified(ctx.addresses.chain!, caPem(ca)), "verified", "the whole chain");
  // Nothing placed by hand was replaced (a key too open is only narrowed).
  const after = snapshot(certs);
  for (const c of CASES.filter((c) => c.serves !== "made")) {
    for (const ext of ["crt", "key"]) {
      assert.is(after[`${c.name}.${ext}`], ctx.before[`${c.name}.${ext}`], `${c.name}.${ext}`);
    }
  }
  assert.is(statSync(join(certs, "keymode.key")).mode & 0o777, 0o600, "the key narrowed to 0600");
  // The member itself keeps serving.
  const cluster_ = await api(ctx.m, "GET", "/core/1.0/cluster");
  assert.is(cluster_.status, 200);
});

test("a refusal is logged once, with the file's path, while it is retried", async (ctx) => {
  const lines = () =>
    ctx.m.daemon!.logs().split("\n").filter((l) =>
      l.includes('"Extension server could not listen"')
    )
      .map((l) => JSON.parse(l));
  // Tried again since: the first tries came at the start, the next a second later.
  await eventually("a second try of each refused server", async () => {
    const l = await listed(ctx.m);
    const once = CASES.filter((c) => c.refused && !(l[c.name]?.attempts >= 2));
    if (once.length) throw new Error(`tried once: ${JSON.stringify(l)}`);
    return true;
  }, 30_000);
  for (const c of CASES.filter((c) => c.refused)) {
    const mine = lines().filter((l) => l.server === c.name);
    assert.is(mine.length, 1, `${c.name}: ${JSON.stringify(mine)}`);
    assert.ok(JSON.stringify(mine[0]).includes(join(ctx.m.dir, "certificates", c.file!)), c.name);
  }
});

test("a pair mended while the member runs is served without a restart", async (ctx) => {
  const certs = join(ctx.m.dir, "certificates");
  const p = await pairOf(ca, "mismatch");
  // As an operator copies a pair: one file, then the other.
  writeFileSync(join(certs, "mismatch.crt"), p.cert);
  writeFileSync(join(certs, "mismatch.key"), p.key, { mode: 0o600 });
  await eventually("mismatch served", async () => {
    const got = await presented(ctx.addresses.mismatch!);
    if (got !== fp(p.cert)) throw new Error(got);
    return true;
  }, 90_000);
  assert.equal((await listed(ctx.m)).mismatch, {
    address: ctx.addresses.mismatch,
    status: "listening",
  });
  // PUT with the same address tries a refused server again at once.
  write(certs, "lonecrt", { key: (await pairOf(ca, "x")).key });
  const res = await api(ctx.m, "PUT", "/core/1.0/daemon/servers", {
    lonecrt: { address: ctx.addresses.lonecrt },
  });
  assert.is(res.status, 200);
  const entry = (await listed(ctx.m)).lonecrt;
  assert.is(entry.status, "failed");
  assert.match(entry.error, /certificates\/lonecrt\.key in the state directory is not the key of/);
});

test.run();
