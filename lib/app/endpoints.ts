/**
 * The app's own REST endpoints, served beside cohort's `/core` API on the member's listeners
 * (MicroCluster's app resources, `rest.Endpoint`). Each endpoint names its method, its path (an
 * itty-router pattern: `/1.0/items/:id`), its handler over web `Request`/`Response`, and:
 *
 * - its access rule ({@link AppAccess}): `open` to anyone; `trusted` to the control socket and
 *   HTTPS callers presenting a cluster member's certificate; `control` to the control socket only;
 * - when it is served: only while the member is online unless `beforeInit` (also while the member
 *   is not initialised) or `whileWaiting` (also while it waits for other members to upgrade);
 *   otherwise the member answers its 503 envelope (`Database is not yet initialized`, or the
 *   waiting message naming the members not yet upgraded);
 * - `proxyTarget`: `?target=NAME` forwards the request to member NAME over mutual TLS (this
 *   member's certificate presented, NAME pinned to the cluster certificate) and answers with its
 *   answer, as MicroCluster's `ProxyTarget`.
 *
 * {@link checkEndpoints} validates a list once, at `createMember`, so a mistake is found before
 * the member touches its state directory.
 *
 * @module
 */
import { InvalidInputError } from "../errors.ts";
import type { Caller, MemberService, MemberStatus } from "../daemon/service.ts";

/** Who may call an app endpoint; see the module docs. */
export type AppAccess = "open" | "trusted" | "control";

/** The methods an app endpoint may take (`GET` endpoints also answer `HEAD`). */
export type AppMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** What a handler gets beside the request. */
export interface AppRequestContext {
  /** Who called: the control socket, or HTTPS with the client certificate's fingerprint. */
  readonly caller: Caller;
  /** The member serving the request (its status, info, cluster members, …). */
  readonly member: MemberService;
  /** The path's `:name` parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  /**
   * The member that forwarded this request with `?target=` (its name), when it came that way;
   * the access rule was checked there, against the original caller.
   */
  readonly forwardedBy?: string;
}

/** An app endpoint's handler; a thrown cohort error becomes its error envelope. */
export type AppHandler = (
  request: Request,
  context: AppRequestContext,
) => Response | Promise<Response>;

/** One app endpoint; see the module docs. */
export interface AppEndpoint {
  method: AppMethod;
  /**
   * Path pattern, itty-router syntax (`/1.0/items/:id`): starts with `/`, not `/core` nor under
   * it (cohort's), at most 256 characters.
   */
  path: string;
  /** Who may call it. */
  access: AppAccess;
  handler: AppHandler;
  /** Also served before the member is initialised. @default false */
  beforeInit?: boolean;
  /** Also served while the member waits for other members to upgrade. @default false */
  whileWaiting?: boolean;
  /**
   * `?target=NAME` forwards the request to member NAME (not for `control` endpoints: the target
   * would see a member's certificate, not its control socket). @default false
   */
  proxyTarget?: boolean;
}

const METHODS: readonly string[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const ACCESS: readonly string[] = ["open", "trusted", "control"];
const MAX_PATH = 256;
// itty-router's pattern syntax: literal segments, `:param`, `:param?`, `*` (no regexp).
const SEGMENT = /^(?:[A-Za-z0-9._~!$&'()+,;=@-]+|:[A-Za-z_][A-Za-z0-9_]*\??|\*)$/;

/** What was wrong with `path`, or `undefined` when it is a valid app path. */
export function appPathProblem(path: unknown): string | undefined {
  if (typeof path !== "string" || !path.startsWith("/")) return "must be a string starting with /";
  if (path.length > MAX_PATH) return `must be at most ${MAX_PATH} characters`;
  if (path === "/core" || path.startsWith("/core/") || path === "/") {
    return path === "/" ? "cannot be / alone" : "cannot be /core or under it (cohort's own API)";
  }
  const segments = path.slice(1).split("/");
  for (const s of segments) {
    if (!SEGMENT.test(s)) {
      return `has an invalid segment "${s}" (letters, digits, -._~ and :param or * only)`;
    }
  }
  return undefined;
}

/**
 * Checks a list of app endpoints (see {@link AppEndpoint}); `field` names the option in errors.
 *
 * @throws {InvalidInputError} naming the endpoint (`endpoints.2.path`) and the rule it breaks
 */
export function checkEndpoints(endpoints: readonly AppEndpoint[], field = "endpoints"): void {
  if (!Array.isArray(endpoints)) {
    throw new InvalidInputError(`${field}: must be an array of endpoints`, { field });
  }
  const seen = new Set<string>();
  endpoints.forEach((e, i) => {
    const at = `${field}.${i}`;
    const fail = (name: string, rule: string): never => {
      throw new InvalidInputError(`${at}.${name}: ${rule}`, { field: `${at}.${name}` });
    };
    if (typeof e !== "object" || e === null) {
      throw new InvalidInputError(`${at}: must be an endpoint object`, { field: at });
    }
    if (!METHODS.includes(e.method)) fail("method", `must be one of ${METHODS.join(", ")}`);
    const problem = appPathProblem(e.path);
    if (problem) fail("path", `"${String(e.path).slice(0, 64)}" ${problem}`);
    if (!ACCESS.includes(e.access)) fail("access", `must be one of ${ACCESS.join(", ")}`);
    if (typeof e.handler !== "function") fail("handler", "must be a function");
    for (const flag of ["beforeInit", "whileWaiting", "proxyTarget"] as const) {
      if (e[flag] !== undefined && typeof e[flag] !== "boolean") fail(flag, "must be a boolean");
    }
    if (e.proxyTarget && e.access === "control") {
      fail("proxyTarget", "cannot forward a control-only endpoint (the target sees a member)");
    }
    const key = `${e.method} ${e.path.replace(/:[A-Za-z0-9_]+/g, ":")}`;
    if (seen.has(key)) fail("path", `"${e.path}" is given twice for ${e.method}`);
    seen.add(key);
  });
}

/** Compiles an itty-style pattern to a regexp (for the phase gate, which has no router). */
function patternOf(path: string): RegExp {
  const body = path.slice(1).split("/").map((s) => {
    if (s === "*") return "/.*";
    if (s.startsWith(":")) return s.endsWith("?") ? "(?:/[^/]+)?" : "/[^/]+";
    return "/" + s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }).join("");
  return new RegExp(`^${body}/?$`);
}

/**
 * Whether a request for an app path may reach the app's router while the member is `status`
 * (not online): true when an endpoint of that path and method allows it, and when no endpoint
 * has that path at all (the router then answers 404: a path unknown is unknown whatever the
 * state, as in MicroCluster, where a client that mistyped a path was told to wait for a member
 * that would never serve it). A known path that cannot serve yet stays the member's 503,
 * whatever the method. For the member's phase gate.
 */
export function servesWhile(
  endpoints: readonly AppEndpoint[],
): (request: Request, status: MemberStatus) => boolean {
  const compiled = endpoints.map((e) => ({ e, re: patternOf(e.path) }));
  return (request, status) => {
    const path = new URL(request.url).pathname;
    const method = request.method === "HEAD" ? "GET" : request.method;
    const known = compiled.filter(({ re }) => re.test(path));
    return known.length === 0 || known.some(({ e }) =>
      e.method === method &&
      (status === "uninitialized"
        ? e.beforeInit === true
        : status === "waiting" && e.whileWaiting === true)
    );
  };
}
