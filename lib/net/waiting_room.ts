/**
 * The turns of one listener's unanswered connections (`limits.ts`): a few at a time are read
 * (handshake, first request), the others wait unread in a bounded room until a turn frees or
 * their turn deadline passes. Turns go to the address with the fewest in their turn, so an
 * address that opens one connection now and then is served however many connections others
 * keep waiting.
 *
 * @module
 */
import type { Socket } from "node:net";
import { Budget } from "./budget.ts";
import type { HttpLimits } from "./http_limits.ts";
import { type Deadline, deadlineIn } from "./late_deadline.ts";

/** A connection as the waiting room sees it. */
export interface Turn {
  readonly socket: Socket;
  /** What its turns count under: its remote address, or `local`. */
  readonly peer: string;
  /**
   * `waiting` for a turn (not read), `pending` (its turn: handshake, first request), `known`
   * (answered once, upgraded, or closed). Starts `waiting`; from then on set by the room only.
   */
  stage: "waiting" | "pending" | "known";
}

/** Logs one of the room's events, rate-limited by the caller per `kind`. */
export type RoomNote = (
  kind: "waited" | "crowded",
  message: string,
  fields: Record<string, unknown>,
) => void;

/** The limits the room keeps (see {@link HttpLimits}). */
export type RoomLimits = Pick<
  HttpLimits,
  "maxPending" | "maxPendingPerPeer" | "maxWaiting" | "headersTimeoutMs"
>;

/** One waiting connection: how to start it once it has its turn, and its turn's deadline. */
interface Waiter {
  readonly turn: Turn;
  readonly begin: () => void;
  deadline?: Deadline;
}

/** A socket's libuv handle, to stop reading a connection that waits for its turn. */
type Handle = { readStop?(): unknown; reading?: boolean };

/**
 * The waiting room of one listener. A connection {@link enter}s once, is started with its
 * `begin` when it has a turn (at once or later), and {@link leave}s when it is known (answered,
 * upgraded or closed), which passes its turn on.
 */
export class WaitingRoom {
  readonly #limits: Readonly<RoomLimits>;
  readonly #note: RoomNote;
  /** Connections in their turn, per peer. */
  readonly #turns: Budget;
  /** Connections waiting for a turn, per peer, oldest first; peers in turn order. */
  readonly #waiting = new Map<string, Waiter[]>();
  #count = 0;

  constructor(limits: Readonly<RoomLimits>, note: RoomNote) {
    this.#limits = limits;
    this.#note = note;
    this.#turns = new Budget(limits.maxPending, limits.maxPendingPerPeer);
  }

  /**
   * `turn` (stage `waiting`, nothing read yet) wants a turn: calls `begin` at once when it has
   * one and none of its address waits before it, else leaves it unread in the room (at most
   * {@link HttpLimits.maxWaiting}, making room by closing another address's newest waiting
   * connection) until a turn frees. Returns `false` when it found no room (its stage is then
   * `known`: the caller closes it). One that gets no turn within
   * {@link HttpLimits.headersTimeoutMs} is closed unread.
   */
  enter(turn: Turn, begin: () => void): boolean {
    const peer = turn.peer;
    if (!this.#waiting.has(peer) && this.#turns.take(peer, 1) === "ok") {
      turn.stage = "pending";
      begin();
      return true;
    }
    if (this.#count >= this.#limits.maxWaiting && !this.#makeRoom(peer)) {
      turn.stage = "known";
      return false;
    }
    // Not read while it waits: node:tls starts reading it when it takes it up.
    const handle = (turn.socket as Socket & { _handle?: Handle | null })._handle;
    handle?.readStop?.();
    if (handle) handle.reading = false;
    const waiter: Waiter = { turn, begin };
    const queue = this.#waiting.get(peer);
    if (queue) queue.push(waiter);
    else this.#waiting.set(peer, [waiter]);
    this.#count++;
    const { headersTimeoutMs: ms, maxPending, maxPendingPerPeer } = this.#limits;
    // A turn that came while the loop was held is taken before this judges (late_deadline.ts):
    // the connections ahead are read and answered first.
    waiter.deadline = deadlineIn(ms, () => {
      waiter.deadline = undefined;
      if (turn.stage !== "waiting") return;
      this.#note("waited", "Connection closed unread: no turn within the head timeout", {
        peer,
        limit: `${maxPending} unanswered connections at once, ` +
          `${maxPendingPerPeer} per address, for ${ms / 1000} s`,
      });
      turn.socket.destroy();
    });
    return true;
  }

  /** `turn` is known (answered, upgraded or closed): it leaves its turn or the room. */
  leave(turn: Turn): void {
    if (turn.stage === "known") return;
    const was = turn.stage;
    turn.stage = "known";
    if (was === "waiting") {
      const queue = this.#waiting.get(turn.peer)!;
      const i = queue.findIndex((w) => w.turn === turn);
      queue[i].deadline?.clear();
      queue.splice(i, 1);
      if (queue.length === 0) this.#waiting.delete(turn.peer);
      this.#count--;
      return;
    }
    this.#turns.give(turn.peer, 1);
    this.#next();
  }

  /** Connections in their turn. */
  get pending(): number {
    return this.#turns.total;
  }

  /** Connections waiting for a turn. */
  get waiting(): number {
    return this.#count;
  }

  /** Stops every turn deadline and closes the connections still waiting (the listener closes). */
  close(): void {
    for (const queue of this.#waiting.values()) {
      for (const w of queue) {
        w.deadline?.clear();
        w.turn.socket.destroy();
      }
    }
  }

  /**
   * The room is full and `peer` wants in: closes the newest waiting connection of the address
   * with the most waiting, if that is another address with more than `peer` has.
   */
  #makeRoom(peer: string): boolean {
    let longest: Waiter[] | undefined;
    for (const queue of this.#waiting.values()) {
      if (!longest || queue.length > longest.length) longest = queue;
    }
    const mine = this.#waiting.get(peer)?.length ?? 0;
    const limit = `${this.#limits.maxWaiting} connections waiting for a turn at once`;
    if (!longest || longest.length <= mine + 1) {
      this.#note("crowded", "Connection refused: too many waiting for a turn", { peer, limit });
      return false;
    }
    const victim = longest.at(-1)!.turn;
    this.#note("crowded", "Connection closed unread: too many waiting for a turn", {
      peer: victim.peer,
      limit,
    });
    this.leave(victim);
    victim.socket.destroy();
    return true;
  }

  /**
   * Gives free turns to waiting connections: each to the address with the fewest connections in
   * their turn (the first in line among equals), its oldest connection, and the address goes to
   * the back of the line.
   */
  #next(): void {
    const { maxPending, maxPendingPerPeer } = this.#limits;
    while (this.#count > 0 && this.#turns.total < maxPending) {
      let chosen: string | undefined;
      let fewest = maxPendingPerPeer;
      for (const peer of this.#waiting.keys()) {
        const n = this.#turns.count(peer);
        if (n < fewest) [chosen, fewest] = [peer, n];
        if (n === 0) break;
      }
      if (chosen === undefined) return;
      this.#turns.take(chosen, 1);
      const queue = this.#waiting.get(chosen)!;
      const w = queue.shift()!;
      this.#waiting.delete(chosen); // to the back of the line
      if (queue.length > 0) this.#waiting.set(chosen, queue);
      this.#count--;
      w.deadline?.clear();
      w.turn.stage = "pending";
      w.begin();
    }
  }
}
