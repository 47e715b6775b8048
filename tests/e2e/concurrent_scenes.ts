/**
 * The operations `concurrent_schedule.test.ts` draws from: each, given the cluster as it is
 * (members initialised, spare daemons clean), either declines (nothing fits) or returns a scene
 * whose commands all start at once with the other scenes of the round, and what must hold of
 * its own outcomes beyond `clearOutcome` (a token admits at most one machine).
 */
import * as assert from "uvu/assert";
import { api, decode, encode, issueToken, type Member, run } from "../helpers/cluster.ts";
import { exitOf } from "../helpers/process.ts";
import { labelled, type Outcome } from "./concurrent_invariants.ts";

/** What a scene factory is given. */
export interface Draw {
  /** Members initialised now. */
  inCluster: Member[];
  /** Daemons running uninitialised (clean). */
  spares: Member[];
  /** Members a scene of this round already holds (spares joining, members removed or stopped). */
  busy: Set<Member>;
  pick<T>(list: readonly T[]): T;
}

/** One operation of a round. */
export interface Scene {
  what: string;
  run(): Promise<Outcome[]>;
  check?(outcomes: Outcome[]): void | Promise<void>;
}

const free = (d: Draw, list: Member[]) => list.filter((m) => !d.busy.has(m));

/** A fresh token for `name` on `on` (a live one left by a refused join is revoked first). */
async function freshToken(on: Member, name: string): Promise<string> {
  await api(on, "DELETE", `/core/control/tokens/${name}`);
  return await issueToken(on, name);
}

/** `token` with its join addresses replaced by `via`'s alone. */
function through(token: string, via: Member): string {
  return encode({ ...decode(token), join_addresses: [via.address] });
}

/** `cohort init NAME ADDR --token T` on `m`, under `name`. */
function init(m: Member, name: string, token: string): Promise<Outcome> {
  return labelled(
    `init ${name} on ${m.name}'s daemon`,
    run(m, ["init", name, m.address, "--token", token]),
  );
}

const atMostOneJoined = (outcomes: Outcome[]) => {
  const joined = outcomes.filter((r) => r.what.startsWith("init") && r.code === 0);
  assert.ok(joined.length <= 1, `one token admitted ${joined.length} machines`);
};

/** Removes one member through another, keeping at least two members not held by the round. */
function remove(d: Draw): Scene | undefined {
  const candidates = free(d, d.inCluster);
  if (candidates.length < 3) return undefined;
  const x = d.pick(candidates);
  const via = d.pick(d.inCluster.filter((m) => m !== x));
  d.busy.add(x);
  return {
    what: `remove ${x.name} through ${via.name}`,
    run: async () => [await labelled(`remove ${x.name}`, run(via, ["cluster", "remove", x.name]))],
  };
}

/** A spare joins with a token from one member, through another. */
function join(d: Draw): Scene | undefined {
  const spares = free(d, d.spares);
  if (!spares.length || !d.inCluster.length) return undefined;
  const s = d.pick(spares);
  const issuer = d.pick(d.inCluster);
  const via = d.pick(d.inCluster);
  d.busy.add(s);
  return {
    what: `join ${s.name} through ${via.name}`,
    run: async () => [await init(s, s.name, through(await freshToken(issuer, s.name), via))],
  };
}

/** Two spares use one token at once, through two members. */
function sameToken(d: Draw): Scene | undefined {
  const spares = free(d, d.spares);
  if (spares.length < 2 || d.inCluster.length < 2) return undefined;
  const [a, b] = spares;
  const [v1, v2] = [d.pick(d.inCluster), d.pick(d.inCluster)];
  d.busy.add(a).add(b);
  return {
    what: `${a.name} and ${b.name} use one token through ${v1.name} and ${v2.name}`,
    run: async () => {
      const token = await freshToken(v1, a.name);
      return await Promise.all([
        init(a, a.name, through(token, v1)),
        init(b, a.name, through(token, v2)),
      ]);
    },
    check: atMostOneJoined,
  };
}

/** A spare joins while its token is revoked through another member. */
function revokeBeside(d: Draw): Scene | undefined {
  const spares = free(d, d.spares);
  if (!spares.length || !d.inCluster.length) return undefined;
  const s = d.pick(spares);
  const [issuer, via, revoker] = [d.pick(d.inCluster), d.pick(d.inCluster), d.pick(d.inCluster)];
  d.busy.add(s);
  return {
    what: `join ${s.name} through ${via.name} while ${revoker.name} revokes its token`,
    run: async () => {
      const token = through(await freshToken(issuer, s.name), via);
      return await Promise.all([
        init(s, s.name, token),
        labelled(`revoke ${s.name}`, run(revoker, ["tokens", "revoke", s.name])),
      ]);
    },
  };
}

/** `init --token` twice at once on one spare. */
function initTwice(d: Draw): Scene | undefined {
  const spares = free(d, d.spares);
  if (!spares.length || !d.inCluster.length) return undefined;
  const s = d.pick(spares);
  const issuer = d.pick(d.inCluster);
  d.busy.add(s);
  return {
    what: `init ${s.name} twice at once`,
    run: async () => {
      const token = await freshToken(issuer, s.name);
      return await Promise.all([init(s, s.name, token), init(s, s.name, token)]);
    },
    check: atMostOneJoined,
  };
}

/** A new app version on a member. */
function appVersion(d: Draw): Scene | undefined {
  if (!d.inCluster.length) return undefined;
  const x = d.pick(d.inCluster);
  const v = `1.${Math.floor(d.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))}.0`;
  return {
    what: `app-version ${v} on ${x.name}`,
    run: async () => [await labelled(`app-version on ${x.name}`, run(x, ["app-version", v]))],
  };
}

/** Records written to a member over its control socket, one after another. */
function records(d: Draw): Scene | undefined {
  if (!d.inCluster.length) return undefined;
  const x = d.pick(d.inCluster);
  return {
    what: `records written to ${x.name}`,
    run: async () => {
      const out: Outcome[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await api(x, "PUT", `/core/1.0/records/sched%2F${x.name}-${i}`, { value: i });
        assert.ok(
          res.status === 200 || res.status === 503,
          `a record write: ${JSON.stringify(res)}`,
        );
        out.push({
          what: `record write on ${x.name}`,
          code: res.status === 200 ? 0 : 1,
          stdout: "",
          stderr: res.status === 200 ? "" : `Error: ${res.body?.error}`,
        });
      }
      return out;
    },
  };
}

/** A member shut down (started again after the round); one per round, never the last two. */
function shutdown(d: Draw): Scene | undefined {
  const candidates = free(d, d.inCluster);
  if (candidates.length < 3 || [...d.busy].some((m) => d.inCluster.includes(m))) return undefined;
  const x = d.pick(candidates);
  d.busy.add(x);
  return {
    what: `shutdown ${x.name}`,
    run: async () => {
      const r = await labelled(`shutdown ${x.name}`, run(x, ["shutdown"]));
      // Its stop is written when the command returns; the process may still be exiting.
      if (r.code === 0) await exitOf(x.daemon!, `${x.name}'s daemon after shutdown`, 30_000);
      return [r];
    },
  };
}

/** Every scene factory, drawn from with equal chances. */
export const scenes: ((d: Draw) => Scene | undefined)[] = [
  remove,
  join,
  sameToken,
  revokeBeside,
  initTwice,
  appVersion,
  records,
  shutdown,
];
