/**
 * A {@link MemberService} decorator that reports joins as they finish (a joiner's
 * initialisation, an admission), with their duration and outcome, to metrics and to the status
 * tracker. The routes use the decorated service; the daemon is not changed.
 *
 * @module
 */
import { isCohortError } from "../errors.ts";
import type {
  ControlRequest,
  JoinRequest,
  JoinResponse,
  MemberService,
  ServerInfo,
} from "../daemon/service.ts";

/** How a join ended: `refused` by the cluster (a 4xx reason), or `failed` otherwise. */
export interface JoinOutcome {
  /** The joining member's name. */
  name: string;
  result: "accepted" | "refused" | "failed";
  /** Why it was refused or failed. */
  reason?: string;
  seconds: number;
}

/** What {@link observeService} reports. */
export interface ServiceHooks {
  /** This member finished joining a cluster (`POST /core/control` with a token). */
  joined?(outcome: JoinOutcome): void;
  /** This member bootstrapped a cluster. */
  bootstrapped?(name: string): void;
  /** This member answered a join request (`POST /core/internal/cluster`). */
  admitted?(outcome: JoinOutcome): void;
}

function outcome(name: string, started: number, err?: unknown): JoinOutcome {
  const seconds = (performance.now() - started) / 1000;
  if (err === undefined) return { name, result: "accepted", seconds };
  const refused = isCohortError(err) && err.status < 500;
  return {
    name,
    result: refused ? "refused" : "failed",
    reason: refused ? (err as Error).message : "internal error",
    seconds,
  };
}

/** `service` with its joins reported to each of `hooks`; every other call goes straight through. */
export function observeService(service: MemberService, ...all: ServiceHooks[]): MemberService {
  const hooks: Required<ServiceHooks> = {
    joined: (o) => all.forEach((h) => h.joined?.(o)),
    bootstrapped: (name) => all.forEach((h) => h.bootstrapped?.(name)),
    admitted: (o) => all.forEach((h) => h.admitted?.(o)),
  };
  const initialize = async (request: ControlRequest): Promise<ServerInfo> => {
    const started = performance.now();
    const joining = request.join_token !== undefined;
    try {
      const info = await service.initialize(request);
      if (joining) hooks.joined(outcome(request.name, started));
      else hooks.bootstrapped(request.name);
      return info;
    } catch (err) {
      if (joining) hooks.joined(outcome(request.name, started, err));
      throw err;
    }
  };
  const acceptJoin = async (request: JoinRequest, signal?: AbortSignal): Promise<JoinResponse> => {
    const started = performance.now();
    try {
      const answer = await service.acceptJoin(request, signal);
      hooks.admitted(outcome(request.name, started));
      return answer;
    } catch (err) {
      hooks.admitted(outcome(request.name, started, err));
      throw err;
    }
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(service, {
    get(target, key) {
      if (key === "initialize") return initialize;
      if (key === "acceptJoin") return acceptJoin;
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      let fn = bound.get(key);
      if (!fn) bound.set(key, fn = value.bind(target));
      return fn;
    },
  });
}
