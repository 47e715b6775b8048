/**
 * CPU profiles of a running process through its inspector (Chrome DevTools Protocol), the same
 * way under Node (`--inspect`) and Deno (`--inspect`): Deno has no `--cpu-prof`, and a profile
 * taken over a window (not the whole life of the process) leaves out start-up and forming.
 * {@link summarise} turns a profile into self time by part of the request path.
 *
 * @module
 */
import WebSocket from "ws";

/** A V8 CPU profile (`Profiler.stop`'s `profile`; what `.cpuprofile` files hold). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A connected inspector session that can start and stop the sampling profiler. */
export interface Profiler {
  start(): Promise<void>;
  stop(): Promise<CpuProfile>;
  close(): void;
}

/** The inspector's WebSocket address in a process's stderr (`Debugger listening on ws://…`). */
export function inspectorUrl(stderr: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1];
}

/** Connects to the inspector at `url`; samples every `intervalUs` µs once started. */
export async function connectProfiler(url: string, intervalUs = 100): Promise<Profiler> {
  const socket = new WebSocket(url);
  socket.on("error", () => {}); // a daemon stopped under us: the calls below fail instead
  await new Promise<void>((ok, fail) => {
    socket.once("open", () => ok());
    socket.once("error", fail);
  });
  let next = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((ok) => {
      const id = next++;
      waiting.set(id, ok);
      socket.send(JSON.stringify({ id, method, params }));
    });
  // Deno's inspector answers nothing until the runtime is told the debugger is ready.
  void call("Runtime.runIfWaitingForDebugger");
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: intervalUs });
  return {
    start: async () => void await call("Profiler.start"),
    stop: async () => ((await call("Profiler.stop")) as { profile: CpuProfile }).profile,
    close: () => socket.close(),
  };
}

/** Parts of a request's path, first match wins (URL or function name). */
const PARTS: [string, RegExp][] = [
  ["gc", /^\(garbage collector\)$/],
  ["idle", /^\(idle\)$/],
  ["native (syscalls, libuv, runtime)", /^\(program\)$/],
  ["cohort lib/net (adapter, limits, request)", /\/lib\/net\//],
  ["cohort routes + guard", /\/routes\/|\/lib\/daemon\/guard/],
  ["cohort daemon (entries, service)", /\/lib\/daemon\//],
  ["cohort log", /\/lib\/log/],
  ["cohort metrics + prom-client", /\/lib\/metrics\/|prom-client/],
  ["itty-router", /itty-router/],
  ["gossip", /\/gossip\//],
  ["node:http (parse, headers, write)", /_http_|internal\/http|deno_node\/.*http|ext:deno_http/],
  ["net, streams, timers", /node:net|internal\/streams|stream|net\.|timers|internal\/process/],
  ["web Request/Response/URL/Headers", /deno_fetch|deno_url|deno_web|internal\/url|undici|fetch/],
];

/** Each profile node's self time (µs): the sum of the time deltas of the samples it took. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return self;
}

/** Self time (ms) by part of the request path (see `PARTS`), and the profile's wall time (ms). */
export function summarise(profile: CpuProfile): { parts: Map<string, number>; wallMs: number } {
  const self = selfTimes(profile);
  const parts = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = self.get(node.id);
    if (!us) continue;
    const { url, functionName } = node.callFrame;
    const part = PARTS.find(([, re]) => re.test(functionName) || re.test(url))?.[0] ??
      (url ? "other JS" : `other (${functionName || "anonymous"})`);
    parts.set(part, (parts.get(part) ?? 0) + us / 1000);
  }
  return { parts, wallMs: (profile.endTime - profile.startTime) / 1000 };
}

/** The `limit` functions with the most self time (ms), named with their file and line. */
export function topFunctions(profile: CpuProfile, limit = 25): [string, number][] {
  const self = selfTimes(profile);
  const byName = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = self.get(node.id);
    if (!us) continue;
    const { url, functionName, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/(node_modules|lib|routes|gossip)\//, "$1/");
    const name = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    byName.set(name, (byName.get(name) ?? 0) + us / 1000);
  }
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, limit);
}
