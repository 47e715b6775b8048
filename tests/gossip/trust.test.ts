/**
 * The trust contract against cohort's roster trust (member certificates, signed roster
 * records) and the simulation's.
 */
import type { RecordStore, ReplicatedRecord } from "../../lib/cluster/replicated_record.ts";
import { rosterTrust } from "../../lib/cluster/roster_trust.ts";
import type { TrustFactory } from "../../lib/cluster/trust.ts";
import { simTrust } from "../../gossip/sim_trust.ts";
import { keyPair } from "../net/_helpers.ts";
import { rosterRecord } from "./roster_fixture.ts";
import { runTrustContract } from "./trust_contract.ts";

/** A record store over fixed records. */
function storeOf(records: ReplicatedRecord[]): RecordStore {
  return {
    setRecord: () => {
      throw new Error("read-only");
    },
    record: (kind, key) => records.find((r) => r.kind === kind && r.key === key),
    records: (kind) => records.filter((r) => r.kind === kind),
  };
}

function build(factory: TrustFactory, name: string, records: ReplicatedRecord[]) {
  return factory({ name, records: storeOf(records), now: () => 0, onRecordChange: () => {} });
}

runTrustContract("roster (ECDSA P-256 member keys)", async () => {
  const [pa, pb] = [await keyPair("a"), await keyPair("b")];
  const a = { name: "a", pair: pa };
  const records = [
    rosterRecord("a", pa, a, { version: 1000 }),
    rosterRecord("b", pb, a, { version: 2000, writer: a, joining: true }),
  ];
  const held = records[0];
  const { sig: _, ...value } = held.value as Record<string, unknown>;
  return {
    a: build(rosterTrust(pa), "a", records),
    b: build(rosterTrust(pb), "b", records),
    identityOf: (n) => (n === "a" ? pa : pb).fingerprint,
    ownRecord: { ...held, value: value as ReplicatedRecord["value"], version: 3000, origin: "a" },
    heldOwn: held,
  };
});

runTrustContract("simulation", () => {
  const factory = simTrust({
    isMember: (n) => n === "a" || n === "b",
    admitted: (admitter, name) => admitter === "a" && name === "b",
  });
  return Promise.resolve({
    a: build(factory, "a", []),
    b: build(factory, "b", []),
    identityOf: (n) => n,
    ownRecord: { kind: "k", key: "a", value: 1, version: 3000, origin: "a" },
    heldOwn: undefined,
  });
});
