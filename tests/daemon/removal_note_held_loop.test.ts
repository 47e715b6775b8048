/**
 * A removal whose note (force or not) arrived in time while the member's event loop was held
 * (the member stopped with SIGSTOP and continued, its VM paused, swapping) is reported to
 * `postRemove` as the note says: a tombstone that came before its note waits for it
 * (`NOTE_WAIT_MS`), and a held loop runs that expired wait before it reads the note waiting in
 * the socket, so a forced removal was reported as not forced. The wait runs on the daemon's
 * clock (`monotonicClock`), whose timers look at the sockets once more when they run clearly
 * late.
 *
 * Played in one process, on the daemon's real clock: the member's reactions take the tombstone,
 * then the note is written to the member's socket and the loop held past the wait in that I/O
 * callback; the note is taken in as gossip takes a record in when it reads it.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { monotonicClock } from "../../lib/cluster/monotonic_clock.ts";
import { MEMBER_RECORD, REMOVAL_RECORD } from "../../lib/cluster/roster.ts";
import { Background } from "../../lib/daemon/background.ts";
import type { MemberContext } from "../../lib/daemon/context.ts";
import { NOTE_WAIT_MS, ViewReactions } from "../../lib/daemon/reactions.ts";
import { silentLogger } from "../../lib/log.ts";
import { actThenHold, socketLink } from "../helpers/held_loop.ts";

const test = suite("a removal note that arrived while the loop was held");

/** A record of `kind` for `key` (only what the reactions read). */
const record = (
  kind: string,
  key: string,
  value: unknown,
) => ({ kind, key, value } as unknown as ReplicatedRecord);

test("is read before the removal is reported", async () => {
  const notes = new Map<string, ReplicatedRecord>();
  const reported: unknown[] = [];
  let hooked!: () => void;
  const hookRan = new Promise<void>((r) => (hooked = r));
  const background = new Background(monotonicClock, silentLogger);
  const ctx = {
    network: {
      gossip: { record: (kind: string, key: string) => notes.get(`${kind}/${key}`) },
      view: {
        name: "m1",
        local: { schemaInternal: 1, schemaExternal: 0, extensions: [] },
        roster: () => new Map(),
        versionOf: () => undefined,
        liveness: () => ({ up: true }),
      },
    },
    options: {},
    logger: silentLogger,
    background,
    env: { clock: monotonicClock, random: Math.random },
    machine: { is: () => true },
    events: { emit: () => {} },
    hook: (name: string, args: unknown) => {
      reported.push([name, args]);
      hooked();
      return Promise.resolve();
    },
  } as unknown as MemberContext;
  const reactions = new ViewReactions(ctx);
  // The member's gossip socket: a note read from it is taken in (a record change).
  const link = await socketLink((text) => {
    const { key, force } = JSON.parse(text);
    const note = record(REMOVAL_RECORD, key, { force });
    notes.set(`${REMOVAL_RECORD}/${key}`, note);
    reactions.onChange({ kind: "record", record: note, previous: undefined });
  });
  try {
    // Held past the wait by more than a held loop's margin (100 ms).
    await actThenHold(() => {
      // m3's tombstone first: the removal waits for its note.
      reactions.onChange({
        kind: "record",
        record: record(MEMBER_RECORD, "m3", null),
        previous: undefined,
        removed: { name: "m3", hadJoined: true },
      });
      link.peer.write(JSON.stringify({ key: "m3", force: true }));
    }, NOTE_WAIT_MS + 500);
    await hookRan;
    await background.idle();
    assert.equal(reported, [["postRemove", { name: "m3", force: true }]]);
  } finally {
    reactions.stop();
    background.stop();
    await link.close();
  }
});

test.run();
