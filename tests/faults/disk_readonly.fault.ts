/**
 * A member whose file system turns read-only, as an operator meets it: real daemons, each probed
 * member's state directory on an ext4 file system of its own (a loop device, mounted with
 * `errors=remount-ro`), broken under the running daemon through ext4's `trigger_fs_error`, which
 * takes the path of a real I/O error: the file system remounts itself read-only and every write
 * fails with `EROFS` (SQLite's with `SQLITE_IOERR_WRITE`). A tmpfs cannot stand in: the kernel
 * refuses `mount -o remount,ro` while the daemon holds its database open for writing.
 *
 * - a running member whose file system turns read-only keeps serving and lists every member,
 *   logs its failed writes once, refuses to claim a join token saying why (the joiner read
 *   "Internal server error"), stops saying so when restarted on it (it printed `EROFS:
 *   read-only file system, open '…/daemon.pid.PID.new'`), and once the file system is repaired
 *   starts, writes what it owes, admits the join it refused, and its database is intact;
 * - `init --bootstrap` and `init --token` on a member whose file system turned read-only fail
 *   saying so and leave no member behind in any roster;
 * - a member whose file system fails seconds after its bootstrap (what it wrote still in the
 *   page cache: an operating-system crash does the same) starts once repaired, with its cluster
 *   (it left a `daemon.json` of zeros, renamed into place unsynced);
 * - `tokens add` on it is refused saying why, nothing spread (it printed a token only the others
 *   stored); `tokens revoke` takes effect everywhere and says it did not store it; its stop says
 *   what it could not write (it said "Daemon stopped" alone); repaired, it holds the revocation;
 * - a stop that could not store what it had to exits 1 (SIGTERM or `cohort shutdown`, which says
 *   so too) and says so in its last log line: it exited 0, so a supervisor recorded a clean stop.
 *
 * Needs root (mount, losetup); registered through `faultTest`, so it skips visibly where it
 * cannot run.
 */
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import * as assert from "uvu/assert";
import {
  api,
  bootstrap,
  daemonArgs,
  eventually,
  isClean,
  issueToken,
  join_,
  logLines,
  type Member,
  run,
  sql,
  startMember,
  stop,
} from "../helpers/cluster.ts";
import { exitOf, lastLines, startDaemonProcess } from "../helpers/process.ts";
import { assertIntact, diskSuite, ext4, names, teardown } from "./disks.ts";
import { faultTest } from "./suite.ts";

const { test, current, member, memberOn } = diskSuite("a member's file system turns read-only");

/** The names of the live join tokens `m` lists. */
async function tokenNames(m: Member): Promise<string[]> {
  const res = await api(m, "GET", "/core/control/tokens");
  assert.is(res.status, 200, JSON.stringify(res.body));
  return res.body.metadata.map((t: { name: string }) => t.name);
}

/** What `cohort shutdown` says of a stop that could not store what it had to. */
const STOP_UNSTORED =
  /^Error: the daemon stopped without storing what it had to: the (file system|disk) of its state directory (is read-only|failed a write)/m;

/** The message of the last JSON line `m`'s daemon logged. */
function lastMessage(m: Member): string {
  const lines = m.daemon!.logs().trimEnd().split("\n");
  return JSON.parse(lines[lines.length - 1]!).msg;
}

/** What a member whose file system is read-only tells a client (the CLI prints it after "Error: "). */
const READ_ONLY =
  /Cannot write to the member's disk: the file system of its state directory is read-only/;

faultTest(
  test,
  "a member whose file system turns read-only keeps serving, says why, recovers once repaired",
  async () => {
    const a1 = await member("a1");
    const [a2, fs] = await memberOn("a2", ext4);
    const j = await member("j");
    const all = [a1, a2, j];
    try {
      await bootstrap(a1);
      const r = await join_(a2, await issueToken(a1, a2.name));
      assert.is(r.code, 0, r.stderr);
      await eventually("a2 storing the roster", async () => {
        const res = await sql(a2, "SELECT count(*) AS n FROM core_cluster_members");
        return res.status === 200 && res.body.metadata.results[0].rows[0][0] === 2;
      });
      fs.fail();
      await issueToken(a1, "owed"); // a token a2 must store
      await eventually(
        "a2 failing to store it",
        () => Promise.resolve(logLines(a2, /persist/).length > 0),
      );
      // A join needs a2's claim (a majority of two): a2 cannot write it, and says why.
      const token = await issueToken(a1, j.name);
      const refused = await join_(j, token);
      assert.is(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, READ_ONLY);
      assert.ok(isClean(j));
      await sleep(3000);
      assert.equal(await names(a2), ["a1:ONLINE", "a2:ONLINE"], "a2 still serving");
      assert.equal(await names(a1), ["a1:ONLINE", "a2:ONLINE"], "no half member");
      const logged = logLines(a2, /persist/);
      assert.is(logged.length, 1, `one line for a run of failures:\n${logged.join("\n")}`);
      assert.equal(logLines(a2, /internal error/), [], "no internal error");
      // Restarted on it: stops saying so, not with the file system's bare error.
      await stop(a2);
      const again = startDaemonProcess(daemonArgs(a2));
      assert.is(await exitOf(again, "the daemon on a read-only disk", 60_000), 1, lastLines(again));
      assert.match(
        again.logs(),
        /Cannot start daemon: the file system of state directory "[^"]+" is read-only/,
      );
      fs.repair();
      await startMember(a2);
      await eventually("a2 back", async () => (await names(a2)).join() === "a1:ONLINE,a2:ONLINE");
      await eventually("a2 storing what it owes", async () => {
        const res = await sql(a2, "SELECT name FROM core_token_records WHERE name = 'owed'");
        return res.status === 200 && res.body.metadata.results[0].rows.length === 1;
      });
      // The refused round released its claims: the same token admits j now.
      const joined = await join_(j, token);
      assert.is(joined.code, 0, joined.stderr);
      await stop(a2);
      await assertIntact(a2);
    } finally {
      await teardown(all, [fs]);
    }
  },
);

faultTest(
  test,
  "init --bootstrap and init --token on a read-only file system say so, leave no member behind",
  async () => {
    const a1 = await member("t1");
    const [b, fs] = await memberOn("tb", ext4);
    try {
      await bootstrap(a1);
      fs.fail();
      const boot = await run(b, ["init", b.name, b.address, "--bootstrap"]);
      assert.is(boot.code, 1, boot.stderr);
      assert.match(boot.stderr, READ_ONLY);
      const joining = await run(b, [
        "init",
        "tb0",
        b.address,
        "--token",
        await issueToken(a1, "tb0"),
      ]);
      assert.is(joining.code, 1, joining.stderr);
      assert.match(joining.stderr, READ_ONLY);
      assert.equal(await names(a1), ["t1:ONLINE"], "no half member");
      await stop(b);
      fs.repair();
      await startMember(b);
      assert.ok(isClean(b), "uninitialised");
      const joined = await join_(b, await issueToken(a1, b.name));
      assert.is(joined.code, 0, joined.stderr);
      assert.equal(await names(a1), ["t1:ONLINE", "tb:ONLINE"]);
    } finally {
      await teardown([a1, b], [fs]);
    }
  },
);

faultTest(
  test,
  "a member whose file system fails seconds after its bootstrap starts with its cluster once repaired",
  async () => {
    const [b, fs] = await memberOn("pb", ext4);
    const c = await member("pc");
    try {
      await bootstrap(b);
      const joined = await join_(c, await issueToken(b, c.name));
      assert.is(joined.code, 0, joined.stderr);
      fs.fail(); // at once: what the join committed is not written back yet
      await stop(b);
      fs.repair();
      // It read a daemon.json of zeros ("not valid JSON") and would not start; started without
      // the roster record of the member it had admitted, it refused that one's gossip (403).
      await startMember(b);
      const both = "pb:ONLINE,pc:ONLINE";
      await eventually("pb with its cluster", async () => (await names(b)).join() === both);
      await eventually("pc seeing pb back", async () => (await names(c)).join() === both);
    } finally {
      await teardown([b, c], [fs]);
    }
  },
);

faultTest(
  test,
  "a removal answered stays once the remover's file system fails just after (and with --force)",
  async () => {
    const [a, fs] = await memberOn("ra", ext4);
    const left = await member("rl");
    const down = await member("rd");
    const all = [a, left, down];
    try {
      await bootstrap(a);
      for (const m of [left, down]) {
        const r = await join_(m, await issueToken(a, m.name));
        assert.is(r.code, 0, r.stderr);
      }
      // Nobody else will hold the tombstones: `rl` resets as it leaves, `rd` is down.
      await stop(down);
      const removed = await run(a, ["cluster", "remove", left.name]);
      assert.is(removed.code, 0, removed.stderr);
      const forced = await run(a, ["cluster", "remove", down.name, "--force"]);
      assert.is(forced.code, 0, forced.stderr);
      fs.fail(); // at once: what the removals committed is not written back yet
      await stop(a);
      fs.repair();
      // It came back listing both (UNREACHABLE): its store had them as members.
      await startMember(a);
      await eventually("ra online", async () => (await names(a))[0] === "ra:ONLINE");
      assert.equal(await names(a), ["ra:ONLINE"], "the removed members stay removed");
    } finally {
      await teardown(all, [fs]);
    }
  },
);

faultTest(
  test,
  "a removal run on a member whose file system is read-only is refused saying so, nothing changed",
  async () => {
    const [a, fs] = await memberOn("qa", ext4);
    const b = await member("qb");
    try {
      await bootstrap(a);
      const r = await join_(b, await issueToken(a, b.name));
      assert.is(r.code, 0, r.stderr);
      fs.fail();
      // It answered success, `qb` reset, and `qa` could not store the removal (a DatabaseError:
      // "SQLITE_IOERR_WRITE", its failed writes logged as an internal error).
      for (const force of [[], ["--force"]]) {
        const refused = await run(a, ["cluster", "remove", b.name, ...force]);
        assert.is(refused.code, 1, refused.stderr);
        assert.match(refused.stderr, /Cannot remove "qb": nothing changed: cannot write to /);
        assert.match(refused.stderr, /is read-only .* or run it on another member/, refused.stderr);
      }
      await sleep(1000);
      assert.equal(await names(b), ["qa:ONLINE", "qb:ONLINE"], "qb still a member");
      assert.equal(await names(a), ["qa:ONLINE", "qb:ONLINE"]);
      assert.not.ok(isClean(b), "qb not reset");
      // Run on the other member, the removal works.
      const removed = await run(b, ["cluster", "remove", a.name, "--force"]);
      assert.is(removed.code, 0, removed.stderr);
      assert.equal(await names(b), ["qb:ONLINE"]);
    } finally {
      await teardown([a, b], [fs]);
    }
  },
);

faultTest(
  test,
  "a member asked to leave on a read-only file system refuses saying so; forced, it resets once repaired",
  async () => {
    const b = await member("lb");
    const [a, fs] = await memberOn("la", ext4);
    try {
      await bootstrap(b);
      const r = await join_(a, await issueToken(b, a.name));
      assert.is(r.code, 0, r.stderr);
      fs.fail();
      const refused = await run(b, ["cluster", "remove", a.name]);
      assert.is(refused.code, 1, refused.stderr);
      assert.match(
        refused.stderr,
        /Member "la" refused to leave: Cannot write to the member's disk/,
      );
      // It named the fault, not the way out.
      assert.match(
        refused.stderr,
        /; or use --force to remove it anyway \(it resets once it starts/,
      );
      assert.equal(await names(b), ["la:ONLINE", "lb:ONLINE"], "nothing changed");
      const forced = await run(b, ["cluster", "remove", a.name, "--force"]);
      assert.is(forced.code, 0, forced.stderr);
      assert.equal(await names(b), ["lb:ONLINE"]);
      await stop(a);
      fs.repair();
      await startMember(a);
      await eventually("la reset", () => Promise.resolve(isClean(a)));
      assert.equal(await names(b), ["lb:ONLINE"]);
    } finally {
      await teardown([a, b], [fs]);
    }
  },
);

faultTest(
  test,
  "a record put and an app version set on a read-only file system say so, not that they are stored",
  async () => {
    const [a, fs] = await memberOn("va", ext4);
    try {
      await bootstrap(a);
      fs.fail();
      // Both were answered as stored (200, exit 0): the store's failed batch went unseen.
      const put = await api(a, "PUT", "/core/1.0/records/k", { value: 1 });
      assert.is(put.status, 507, JSON.stringify(put.body));
      assert.match(put.body.error, /the disk of its state directory failed a write/);
      const set = await run(a, ["app-version", "2.0.0"]);
      assert.is(set.code, 1, set.stderr);
      assert.match(set.stderr, /the disk of its state directory failed a write/);
    } finally {
      await teardown([a], [fs]);
    }
  },
);

faultTest(
  test,
  "tokens on a read-only file system: add refused, revoke said unstored, the stop says what it lost",
  async () => {
    const [a, fs] = await memberOn("ka", ext4);
    const b = await member("kb");
    try {
      await bootstrap(a);
      const r = await join_(b, await issueToken(a, b.name));
      assert.is(r.code, 0, r.stderr);
      const leaked = await issueToken(b, "leaked");
      await eventually("ka storing the token", async () => {
        const res = await sql(a, "SELECT name FROM core_token_records WHERE name = 'leaked'");
        return res.status === 200 && res.body.metadata.results[0].rows.length === 1;
      });
      fs.fail();
      // It printed a token (exit 0) that only kb stored. Its write is the first ka fails (or a
      // batch's just before): withdrawn from kb, or refused before it spread.
      const add = await run(a, ["tokens", "add", "x"]);
      assert.is(add.code, 1, add.stdout + add.stderr);
      assert.match(
        add.stderr,
        /Cannot issue a join token for "x": (it was withdrawn|nothing changed): cannot write /,
      );
      await sleep(1000);
      assert.equal(await tokenNames(b), ["leaked"], "no token x");
      // A revocation takes effect everywhere, and says ka did not store it (it said nothing).
      const revoke = await run(a, ["tokens", "revoke", "leaked"]);
      assert.is(revoke.code, 1, revoke.stderr);
      assert.match(revoke.stderr, /"leaked" was revoked, but this member could not store its /);
      await eventually("kb holding the revocation", async () => (await tokenNames(b)).length === 0);
      // Its store known to fail now, a token is refused before it spreads.
      const again = await run(a, ["tokens", "add", "y"]);
      assert.is(again.code, 1, again.stdout + again.stderr);
      assert.match(
        again.stderr,
        /Cannot issue a join token for "y": nothing changed: cannot write /,
      );
      // The stop owes the revocation and heartbeats: it said "Daemon stopped" alone, then
      // `shutdown` and the daemon's process both exited 0, as after a clean stop.
      const down = await run(a, ["shutdown"]);
      assert.is(down.code, 1, down.stderr);
      assert.match(down.stderr, STOP_UNSTORED);
      assert.is(await a.daemon!.exited, 1, lastLines(a.daemon!));
      assert.is(logLines(a, /^Stopping without writing/).length, 1, lastLines(a.daemon!));
      assert.match(lastMessage(a), /^Daemon stopped without storing what it had to: /);
      fs.repair();
      await startMember(a);
      await eventually("ka back", async () => (await names(a)).join() === "ka:ONLINE,kb:ONLINE");
      await eventually("ka storing the revocation kb kept", async () => {
        const res = await sql(a, "SELECT name FROM core_token_records");
        return res.status === 200 && res.body.metadata.results[0].rows.length === 0;
      });
      assert.equal(await tokenNames(a), []);
      const j = await member("kj");
      const refused = await join_(j, leaked);
      assert.is(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /Join token was already used or has been revoked/);
      await stop(j);
    } finally {
      await teardown([a, b, ...current.filter((m) => m.name === "kj")], [fs]);
    }
  },
);

faultTest(
  test,
  "a stop on a read-only file system exits 1 and says so last (SIGTERM); a clean stop exits 0",
  async () => {
    const [a, fs] = await memberOn("xa", ext4);
    try {
      await bootstrap(a);
      // A supervisor (systemd's Restart=on-failure, a container's restart policy) reads the
      // status: it recorded a clean stop while the member's heartbeats and any change it alone
      // held were lost.
      process.kill(a.daemon!.child.pid!, "SIGTERM");
      assert.is(await exitOf(a.daemon!, "xa's clean stop", 60_000), 0, lastLines(a.daemon!));
      assert.is(lastMessage(a), "Daemon stopped");
      await startMember(a);
      await eventually("xa online", async () => (await names(a)).join() === "xa:ONLINE");
      fs.fail();
      process.kill(a.daemon!.child.pid!, "SIGTERM");
      assert.is(await exitOf(a.daemon!, "xa's stop", 60_000), 1, lastLines(a.daemon!));
      assert.match(
        lastMessage(a),
        /^Daemon stopped without storing what it had to: the (file system|disk) of state directory "[^"]+" (is read-only|failed a write)/,
      );
    } finally {
      await teardown([a], [fs]);
    }
  },
);

test.run();
