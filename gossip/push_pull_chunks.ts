/**
 * How a push-pull's state travels: split into frames of at most {@link CHUNK_CHARS} of state
 * each, one-way pushes first and the message itself last (see `push_pull.ts`); and every record,
 * when a peer asked for them, in gossip messages of the same bound ({@link recordMessages}).
 *
 * @module
 */
import type { ReplicatedRecord } from "../lib/cluster/replicated_record.ts";
import { CHUNK_CHARS } from "./messages.ts";
import { updateSize, utf8Length } from "./update_size.ts";
import type { GossipMsg, PushPullMsg, StateEntry, Update } from "./messages.ts";

/** Most records per gossip message when a peer asked for all of them. */
export const RECORDS_PER_MESSAGE = 1024;

/** The fields of a push-pull message besides the state it carries. */
export type Head = Omit<PushPullMsg, "st" | "x" | "rc">;

/** State to ship: members, the lists they run, records. */
export interface Payload {
  st?: readonly StateEntry[];
  x?: Readonly<Record<string, readonly string[]>>;
  rc?: readonly ReplicatedRecord[];
}

/**
 * Splits `payload` into push-pull messages of at most {@link CHUNK_CHARS} bytes of state each (a
 * single item larger than that travels alone): one-way pushes (`o`) first, `head` last with
 * what remains. The lists of `x` come after the members that run them.
 */
export function chunkPayload(head: Head, payload: Payload, from: string): PushPullMsg[] {
  const out: PushPullMsg[] = [];
  let st: StateEntry[] = [];
  let x: Record<string, readonly string[]> | undefined;
  let rc: ReplicatedRecord[] = [];
  let size = 0;
  const flush = () => {
    const part: PushPullMsg = { t: "pp", f: from, s: head.s, o: true };
    out.push(withParts(part, st, x, rc));
    st = [];
    x = undefined;
    rc = [];
    size = 0;
  };
  const add = (n: number) => {
    if (size > 0 && size + n > CHUNK_CHARS) flush();
    size += n;
  };
  for (const e of payload.st ?? []) {
    add(updateSize(e as unknown as Update));
    st.push(e);
  }
  for (const r of payload.rc ?? []) {
    add(updateSize(r as unknown as Update));
    rc.push(r);
  }
  // Lists last: a receiver learns a list only once it holds a member that runs it.
  if (payload.x) {
    for (const d in payload.x) {
      const list = payload.x[d];
      let n = utf8Length(d) + 6;
      for (const name of list) n += utf8Length(name) + 3;
      add(n);
      (x ??= {})[d] = list;
    }
  }
  out.push(withParts({ ...head } as PushPullMsg, st, x, rc, payload));
  return out;
}

/** `msg` with the parts that are not empty (and, for the last message, present in `payload`). */
function withParts(
  msg: PushPullMsg,
  st: StateEntry[],
  x: Record<string, readonly string[]> | undefined,
  rc: ReplicatedRecord[],
  payload?: Payload,
): PushPullMsg {
  const m = msg as { -readonly [K in keyof PushPullMsg]: PushPullMsg[K] };
  // A one-way part always has `st` (what a push-pull without a digest must carry); the last
  // message has it when the payload has it, even empty: it is what says "full state".
  if (payload === undefined || st.length || payload.st !== undefined) m.st = st;
  if (x) m.x = x;
  if (rc.length) m.rc = rc;
  return msg;
}

/**
 * `records` as gossip updates from `from` (what a peer that asked with `rw` is sent), in
 * messages of at most {@link CHUNK_CHARS} and {@link RECORDS_PER_MESSAGE} records; none when
 * there are no records.
 */
export function recordMessages(records: readonly ReplicatedRecord[], from: string): GossipMsg[] {
  const out: GossipMsg[] = [];
  let pb: Update[] = [];
  let size = 0;
  const flush = () => {
    if (pb.length) out.push({ t: "gossip", f: from, pb });
    pb = [];
    size = 0;
  };
  for (const r of records) {
    const u: Update = { k: "rec", r };
    const n = updateSize(u);
    if (pb.length >= RECORDS_PER_MESSAGE || (pb.length > 0 && size + n > CHUNK_CHARS)) flush();
    pb.push(u);
    size += n;
  }
  flush();
  return out;
}
