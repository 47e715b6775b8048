/**
 * Forgetting members: a dead member after `reconnectTimeoutMs`, one that left after
 * `tombstoneTimeoutMs`, and one down that is no longer a member (removed), or whose name a new
 * member holds now, at once.
 *
 * Separate from the engine (engine.ts) because it is the one rule for how long a member table
 * keeps what it no longer needs: its size, and what every push-pull ships, depend on it.
 *
 * @module
 */
import type { GossipConfig } from "./config.ts";
import type { MemberEntry } from "./members.ts";
import type { StateMachine } from "./state.ts";

/**
 * Removes from `state`'s table (and its update queue) every member due to be forgotten at clock
 * ms `now`, calling `forgot` with each (its address is no longer a seed to try).
 */
export function reapMembers(
  state: StateMachine,
  config: Pick<GossipConfig, "reconnectTimeoutMs" | "tombstoneTimeoutMs">,
  now: number,
  forgot: (entry: MemberEntry) => void,
): void {
  const table = state.table;
  for (let i = table.slots - 1; i >= 0; i--) {
    const e = table.at(i);
    if (!e) continue;
    const age = now - e.stateChangedAt;
    // A member no longer a member (removed) is forgotten at once: nothing would bring it
    // back (its claims are refused), and kept a day it would ride in every push-pull's
    // state and, with machines replaced often enough, fill the table.
    // So is one of a former identity of its name (removed, and admitted again since with a
    // new certificate): it is news about nobody, and the new member's claims replace it anyway.
    const down = e.state === "dead" || e.state === "left";
    if (
      (down && e !== state.self && (!state.isMember(e.name) || state.isFormer(e))) ||
      (e.state === "dead" && age >= config.reconnectTimeoutMs) ||
      (e.state === "left" && age >= config.tombstoneTimeoutMs && e !== state.self)
    ) {
      table.remove(e);
      state.queue.remove(e.name);
      forgot(e);
    }
  }
}
