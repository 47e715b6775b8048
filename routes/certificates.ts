/**
 * `PUT /core/1.0/cluster/certificates/{name}` (MicroCluster's): replaces the key pair of the
 * app's extension server `name` (body MicroCluster's `KeyPair`: `cert`, `key`, `ca`) on this
 * member, then on every other member. The pair is checked by the rules of a pair found on disk
 * (a 400 naming `cert` or `key` and the fault: nothing changes anywhere), written in its place
 * (both files or neither) and presented at once by the server's listener, its open connections
 * kept (`lib/app/servers.ts`);
 * then the same request goes to every other member as a notification (`NOTIFIER_AGENT`), which
 * each handles for itself alone. The answer lists the members that took it; when one did not
 * (down, or refusing it), the answer is a 503 naming each with its reason and those that took
 * it: never a silent partial. Before `init` the pair is replaced on this member alone, as
 * MicroCluster does while its database is not open.
 *
 * `cluster` (the cluster's own certificate) and `server` (a member's own) are refused with a
 * 501 saying why (see {@link CLUSTER_REFUSAL}); an unknown name is a 404; a non-empty `ca` is a
 * 400 (cohort's extension servers check clients against no CA).
 *
 * @module
 */
import type { RouterType } from "itty-router";
import type { ServersSource } from "../lib/app/servers.ts";
import { NOTIFIER_AGENT } from "../lib/daemon/peers.ts";
import type { Caller, MemberService } from "../lib/daemon/service.ts";
import { InvalidInputError, NotSupportedError, UnavailableError } from "../lib/errors.ts";
import { requireTrusted, STATUS_MESSAGES } from "./access.ts";
import { BODY_LIMITS, param, readBody } from "./body.ts";
import { sync } from "./envelope.ts";
import { NONE } from "./servers.ts";
import { KeyPairBody } from "./structs.ts";

/** Why `cluster` is refused: what MicroCluster's rotation would break in cohort. */
export const CLUSTER_REFUSAL = 'Replacing the "cluster" certificate is not supported: every ' +
  "member pins it to trust the others, and join tokens carry its fingerprint; a member given " +
  "a new one would be cut off from the rest";

/** Why `server` is refused. */
export const SERVER_REFUSAL = 'Replacing the "server" certificate is not supported: it is ' +
  "this member's identity, which the other members trust by its fingerprint";

/** `PUT /core/1.0/cluster/certificates/{name}` metadata. */
export interface PairReplaced {
  /** The members that hold the new pair, this one first. */
  replaced_on: string[];
}

/** Registers the certificate endpoint on `router`. */
export function certificateRoutes(
  router: RouterType,
  service: MemberService,
  servers: ServersSource = NONE,
): void {
  router.put("/core/1.0/cluster/certificates/:name", async (request: Request, caller: Caller) => {
    requireTrusted(service, caller);
    const status = service.status();
    if (status === "starting" || status === "stopping") {
      throw new UnavailableError(STATUS_MESSAGES[status]);
    }
    const name = param(request, "name");
    if (name === "cluster") throw new NotSupportedError(CLUSTER_REFUSAL);
    if (name === "server") throw new NotSupportedError(SERVER_REFUSAL);
    const body = await readBody(request, KeyPairBody, BODY_LIMITS.pair);
    if (body.ca) {
      throw new InvalidInputError(
        "Invalid request body: ca: not supported: extension servers check clients against no " +
          'CA (leave it "")',
        { field: "ca" },
      );
    }
    await servers.replacePair(name, { cert: body.cert, key: body.key });
    const self = service.info().name;
    // A notification is handled here alone; before init there is nobody to tell.
    const notification = request.headers.get("user-agent") === NOTIFIER_AGENT;
    if (notification || (status !== "online" && status !== "waiting")) {
      return sync<PairReplaced>({ replaced_on: [self] });
    }
    const answers = await service.notifyMembers({
      method: "PUT",
      path: `/core/1.0/cluster/certificates/${encodeURIComponent(name)}`,
      body: { cert: body.cert, key: body.key, ca: "" },
    });
    const took = [self, ...answers.filter((a) => a.ok).map((a) => a.name)];
    const missed = answers.filter((a) => !a.ok);
    if (missed.length) {
      const list = (names: string[]) => names.map((n) => `"${n}"`).join(", ");
      throw new UnavailableError(
        `The key pair of "${name}" was replaced on ${list(took)} but not on ` +
          missed.map((a) => `"${a.name}" (${a.error})`).join(", ") +
          ": send the request again once they are up",
      );
    }
    return sync<PairReplaced>({ replaced_on: took });
  });
}
