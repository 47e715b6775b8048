/**
 * A simulated cluster that runs cohort's own trust (`rosterTrust`): real member certificates
 * (ECDSA P-256), the roster records a bootstrap and joins leave behind (m0 admitted itself and
 * the others, who then completed their joins), members identified by certificate fingerprint.
 * And an adversary: an endpoint that speaks with one member's certificate (it holds that
 * member's key), as a prober with a member's certificate does.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, sign } from "node:crypto";
import type { ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import type { Transport } from "../../lib/cluster/transport.ts";
import { admissionPayload, recordPayload, type RosterEntry } from "../../lib/cluster/roster.ts";
import { rosterTrust } from "../../lib/cluster/roster_trust.ts";
import type { KeyPair } from "../../lib/net/certificates.ts";
import {
  createSimCluster,
  simAddress,
  type SimCluster,
  type SimOptions,
} from "../../gossip/sim.ts";
import { keyPair } from "../net/_helpers.ts";

/** A simulated cluster on the roster trust, with its members' key pairs. */
export interface RosterCluster extends SimCluster {
  readonly pairs: KeyPair[];
  readonly records: ReplicatedRecord[];
}

/** Signs `text` with a PEM private key, as the roster trust does. */
export function signWith(key: string, text: string): string {
  return sign("sha256", Buffer.from(text), {
    key: createPrivateKey(key),
    dsaEncoding: "ieee-p1363",
  }).toString("base64url");
}

/**
 * A roster record for `name`, admitted by `admitter` (its key pair) and written by `writer`
 * (the member itself unless given; `joining` when the admitter writes it).
 */
export function rosterRecord(
  name: string,
  pair: KeyPair,
  admitter: { name: string; pair: KeyPair },
  options: {
    version?: number;
    joining?: boolean;
    writer?: { name: string; pair: KeyPair };
    /** The admission's time (default: `version`). */
    joinedAt?: number;
    /** The removal of the name's previous holder the admission follows (its tombstone's version). */
    after?: number;
  } = {},
): ReplicatedRecord {
  const version = options.version ?? 1000;
  const joinedAt = options.joinedAt ?? version;
  const writer = options.writer ?? { name, pair };
  const after = options.after;
  const entry: RosterEntry = {
    address: simAddress(Number(name.slice(1)) || 0),
    certificate: pair.cert,
    fingerprint: pair.fingerprint,
    joinedAt,
    ...(options.joining ? { joining: true } : {}),
    admission: {
      by: admitter.name,
      sig: signWith(admitter.pair.key, admissionPayload(name, pair.cert, joinedAt, after)),
      ...(after !== undefined ? { after } : {}),
    },
  };
  const record = { kind: "member", key: name, value: null, version, origin: writer.name };
  const sig = signWith(writer.pair.key, recordPayload(record, entry));
  return { ...record, value: { ...entry, sig } as unknown as ReplicatedRecord["value"] };
}

/** Starts `size` members on the roster trust (every member holds every roster record). */
export async function createRosterCluster(
  size: number,
  options: Omit<SimOptions, "size" | "trust" | "identity" | "records" | "meta"> = {},
): Promise<RosterCluster> {
  const pairs: KeyPair[] = [];
  for (let i = 0; i < size; i++) pairs.push(await keyPair(`m${i}`));
  const boot = { name: "m0", pair: pairs[0] };
  const records = pairs.map((pair, i) => rosterRecord(`m${i}`, pair, boot));
  const c = createSimCluster({
    ...options,
    size,
    trust: (i) => rosterTrust(pairs[i]),
    identity: (i) => pairs[i].fingerprint,
    records,
    meta: (i) => ({ fingerprint: pairs[i].fingerprint }),
  });
  return Object.assign(c, { pairs, records });
}

/**
 * An endpoint that sends as member `i` (its certificate fingerprint) from a spare address, or,
 * with `takeOver`, from member `i`'s own address in its stead (member `i` crashes first), so
 * that answers meant for member `i` reach it.
 */
export function adversary(c: RosterCluster, i: number, port = 1, takeOver = false): Transport {
  if (takeOver) c.crash(i);
  const address = takeOver ? c.addresses[i] : `10.9.9.9:${port}`;
  const t = c.net.endpoint(address, c.pairs[i].fingerprint);
  t.listen({ message() {}, refused() {} });
  return t;
}
