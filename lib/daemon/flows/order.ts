/**
 * The durable order of every step that changes who is a member, and what a restart after a
 * `kill -9` between two steps does: finish the change (resume) or take it back (undo), so a member
 * is always either fully what it was or fully what it became. Each flow's module documents its
 * own steps; this table is the one place that lists them all, for people and for tests (a kill
 * matrix can take its kill points from it).
 *
 * What a start reads, in this order (`open_member.ts`):
 * 1. `transition.json` says `leave`: the member is `removed`; the start asks the others to take it
 *    out (its tombstone may not have spread), then wipes it: uninitialised.
 * 2. no `daemon.json`, `transition.json` says `join`: the start asks the members it knew to take
 *    it out, then removes what the join left: uninitialised.
 * 3. no `daemon.json`, but cluster certificates, a kept view (`join_view.json`), records or
 *    member rows: an initialisation cut short; they are removed: uninitialised.
 * 4. `daemon.json`: a member (a `transition.json` left beside it is from a change that had
 *    committed, and goes); it starts as `flows/open.ts` describes.
 *
 * @module
 */

/** One durable step of a membership flow. */
export interface DurableStep {
  /** The flow (module under `flows/`). */
  flow: "bootstrap" | "join" | "accept-join" | "remove" | "leave" | "open";
  /** What is made durable (or visible to others) at this step. */
  step: string;
  /** The log line written as the step completes, when there is one (`msg`, and a field). */
  line?: string;
  /** After a kill just after this step, what the restart does. */
  restart: string;
}

/** Every step, in order within each flow; see the module docs. */
export const DURABLE_STEPS: readonly DurableStep[] = Object.freeze([
  { flow: "bootstrap", step: "server.crt/key and cluster.crt/key written", restart: "undo (3)" },
  {
    flow: "bootstrap",
    step: "HTTPS listening, gossip started",
    line: `"Listening" transport=https`,
    restart: "undo (3)",
  },
  { flow: "bootstrap", step: "own roster record written to the store", restart: "undo (3)" },
  { flow: "bootstrap", step: "postBootstrap hook passed", restart: "undo (3)" },
  {
    flow: "bootstrap",
    step: "daemon.json written: committed",
    line: `"Phase changed" to=online`,
    restart: "a bootstrapped member listing itself (4)",
  },
  { flow: "join", step: "server.crt/key written", restart: "undo (3)" },
  {
    flow: "join",
    step: "transition.json (join) written, then the join request sent",
    restart: "withdraw, then undo (2)",
  },
  {
    flow: "join",
    step: "admitted: cluster.crt/key, join_view.json and daemon.json.next (with the view's seed) " +
      "written; HTTPS listening, gossip started while they and the directory are synced",
    line: `"Listening" transport=https`,
    restart: "withdraw (the admitting member first, named by join_view.json), then undo (2)",
  },
  {
    flow: "join",
    step: "preJoin passed",
    restart: "withdraw, undo (2)",
  },
  {
    flow: "join",
    step: "daemon.json.next renamed to daemon.json, the directory synced: committed; " +
      "transition.json removed",
    restart: "a member; it takes the view in from join_view.json if its store did not hold it " +
      "yet (that file torn or lost by an operating-system crash: the seed daemon.json holds, then " +
      "the admitting member's push-pull), and clears its roster record's joining mark as it " +
      "opens (4)",
  },
  {
    flow: "join",
    step: "joining mark cleared (others run onNewMember)",
    line: `"Phase changed" to=online`,
    restart: "a member (4)",
  },
  {
    flow: "join",
    step: "the view written to the store; the seed dropped from daemon.json, join_view.json " +
      "removed",
    restart: "a member (4)",
  },
  {
    flow: "accept-join",
    step: "joiner's roster record (joining) written to the store, then gossiped and answered",
    line: `"Admitted a new member"`,
    restart: "the admitter knows the joiner (it may have been its only peer); a joiner whose " +
      "answer was lost undid its join and asks again to be taken out until a member that " +
      "heard of the admission does it (the restarted admitter, at the latest); a joiner that " +
      "never completes is dropped after JOIN_EXPIRY_MS by any online member",
  },
  {
    flow: "leave",
    step: "preRemove passed; transition.json (leave) written; answered",
    restart: "withdraw, then wipe (1)",
  },
  {
    flow: "leave",
    step: "phase removed: only the status is served",
    line: `"Phase changed" to=removed`,
    restart: "withdraw, then wipe (1)",
  },
  { flow: "leave", step: "own tombstone written, gossip left", restart: "wipe (1)" },
  { flow: "leave", step: "daemon.json removed", restart: "wipe (1)" },
  { flow: "leave", step: "store recreated, certificates removed", restart: "wipe (1)" },
  {
    flow: "leave",
    step: "transition.json removed: uninitialised",
    line: `"Left the cluster: this member is uninitialized again"`,
    restart: "uninitialised",
  },
  {
    flow: "remove",
    step: "departing member agreed (its leave recorded)",
    restart: "the departing member finishes its leave and writes its own tombstone",
  },
  {
    flow: "remove",
    step: "tombstone written (others distrust the member, run postRemove)",
    restart: "removed everywhere",
  },
  {
    flow: "open",
    step: "network started announcing the versions last run (refused starts change nothing)",
    restart: "a member, as before",
  },
  {
    flow: "open",
    step: "removal asked of the others: removed → leave",
    line: `"Phase changed" to=removed`,
    restart: "wipe (1) if the leave was recorded, else the same question again",
  },
  {
    flow: "open",
    step: "gate refused: refused start published",
    line: `"Phase changed" to=refused`,
    restart: "a member counted with its last run versions",
  },
  {
    flow: "open",
    step: "gate passed: app migrations applied (when opening), own row's versions written",
    restart: "a member announcing its new versions",
  },
  {
    flow: "open",
    step: "new versions announced; waiting or online",
    line: `"Phase changed" to=waiting|online`,
    restart: "a member",
  },
]);
