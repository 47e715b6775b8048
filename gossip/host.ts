/**
 * What the engine's parts (prober, dissemination, push-pull, extension fetching) share of it:
 * each part takes the engine as its host through an interface that extends this one.
 *
 * @module
 */
import type { Clock } from "../lib/cluster/clock.ts";
import type { Random } from "../lib/cluster/random.ts";
import type { Logger } from "../lib/log.ts";
import type { GossipConfig } from "./config.ts";
import type { Message } from "./messages.ts";
import type { StateMachine } from "./state.ts";

/** The engine as its parts see it. */
export interface EngineHost {
  /** This member's name. */
  readonly name: string;
  readonly state: StateMachine;
  readonly config: GossipConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  /** A fresh sequence number for a request. */
  nextSeq(): number;
  /** Sends a protocol message; `reliable`: never dropped under send pressure. */
  send(address: string, msg: Message, reliable?: boolean): void;
  /** The next message to `address` goes over a new connection (see `Transport.redial`). */
  redial(address: string): void;
}
