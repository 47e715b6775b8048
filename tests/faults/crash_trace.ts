/**
 * Reads an strace trace (`crash_trace_run.ts`: `-f -yy -ttt -x`) into the operations the
 * crash-order check reasons about, in the order they completed: files opened, written, synced,
 * truncated, renamed, linked and removed, directories made and removed, and what was read from and
 * written to unix sockets (a control socket's requests and answers). A call split over two lines (`<unfinished ...>`, `<... resumed>`) is joined;
 * failed calls are dropped. Paths are absolute: a descriptor's is the one strace shows beside it
 * (`3</dir/file>`), a relative path is resolved against its directory descriptor's.
 *
 * @module
 */
import { resolve } from "node:path";

/** One operation read from a trace. */
export type TraceOp =
  | { kind: "open"; path: string; fd: number; flags: string; mode?: number }
  | { kind: "write"; path: string; fd: number; data: Buffer; offset?: number }
  | { kind: "truncate"; path: string; length: number }
  | { kind: "sync"; path: string }
  | { kind: "rename"; from: string; to: string }
  | { kind: "link"; from: string; to: string }
  | { kind: "unlink"; path: string }
  | { kind: "mkdir"; path: string; mode: number }
  | { kind: "rmdir"; path: string }
  /** Bytes written to a socket; `peer` is the descriptor as strace shows it (`UNIX-STREAM:[…]`). */
  | { kind: "send"; peer: string; fd: number; data: Buffer }
  /** Bytes read from a socket (`peer` as for `send`). */
  | { kind: "receive"; peer: string; data: Buffer };

/** An operation, with the wall-clock time (s since the epoch) and the thread that completed it. */
export type Timed = TraceOp & { time: number; tid: number };

const LINE = /^(\d+)\s+(\d+\.\d+) (.*)$/;

/** Decodes a string as strace prints it (C escapes, `\xNN`) into its bytes. */
export function unquote(s: string): Buffer {
  const out: number[] = [];
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, '"': 34, "\\": 92 };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== "\\") {
      out.push(s.charCodeAt(i) & 0xff);
      continue;
    }
    const e = s[++i];
    if (e === "x") {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e >= "0" && e <= "7") {
      let j = i;
      while (j < i + 3 && s[j] >= "0" && s[j] <= "7") j++;
      out.push(parseInt(s.slice(i, j), 8));
      i = j - 1;
    } else out.push(simple[e] ?? e.charCodeAt(0));
  }
  return Buffer.from(out);
}

/** Splits `text` (what follows `call(`) into its top-level arguments and the return value. */
function split(text: string): { args: string[]; ret: string } | undefined {
  const args: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if ("([{<".includes(c)) depth++;
    else if (c === ">" && text[i - 1] === "-") continue; // a socket's `local->peer`
    else if (")]}>".includes(c)) {
      if (depth === 0 && c === ")") {
        args.push(text.slice(start, i).trim());
        const ret = text.slice(i + 1).trim();
        return ret.startsWith("=") ? { args, ret: ret.slice(1).trim() } : undefined;
      }
      depth--;
    } else if (c === "," && depth === 0) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return undefined;
}

/** `3</a/b>` → { fd: 3, desc: "/a/b" }; `AT_FDCWD</cwd>` → { fd: -100, desc: "/cwd" }. */
function descriptor(arg: string): { fd: number; desc: string } | undefined {
  const m = /^(AT_FDCWD|-?\d+)<(.*)>$/s.exec(arg);
  if (!m) return undefined;
  return { fd: m[1] === "AT_FDCWD" ? -100 : Number(m[1]), desc: m[2] };
}

/** The bytes of a quoted string argument; throws when strace cut it short (`"…"...`). */
function bytes(arg: string): Buffer {
  if (arg.endsWith('"...')) throw new Error(`a string cut short in the trace: ${arg.slice(0, 80)}`);
  return unquote(arg.slice(1, -1));
}

/** A path argument resolved against the directory descriptor before it, when relative. */
function pathAt(dirArg: string | undefined, arg: string): string {
  const p = unquote(arg.slice(1, -1)).toString("utf8");
  const dir = dirArg ? descriptor(dirArg)?.desc ?? "/" : "/";
  return resolve(dir, p);
}

/** The bytes of a `writev`'s `[{iov_base="…", iov_len=N}, …]`. */
function iovecs(arg: string): Buffer {
  const parts: Buffer[] = [];
  for (const m of arg.matchAll(/iov_base=("(?:[^"\\]|\\.)*"(?:\.\.\.)?)/g)) parts.push(bytes(m[1]));
  return Buffer.concat(parts);
}

/** One complete call (`name`, its argument text with the return) as an operation, if it is one. */
function operation(name: string, text: string): TraceOp | undefined {
  const parts = split(text);
  if (!parts || parts.ret.startsWith("-1") || parts.ret.startsWith("?")) return undefined;
  const { args, ret } = parts;
  const fdOf = (a: string) => descriptor(a);
  const done = Number(/^-?\d+/.exec(ret)?.[0]);
  switch (name) {
    case "openat": {
      const fd = fdOf(ret);
      return fd && {
        kind: "open",
        path: fd.desc,
        fd: fd.fd,
        flags: args[2],
        mode: args[3] ? parseInt(args[3], 8) : undefined,
      };
    }
    case "write":
    case "pwrite64":
    case "writev":
    case "pwritev":
    case "sendto":
    case "sendmsg": {
      const fd = fdOf(args[0]);
      if (!fd) return undefined;
      let data = name === "writev" || name === "pwritev"
        ? iovecs(args[1])
        : name === "sendmsg"
        ? iovecs(args[1])
        : bytes(args[1]);
      data = data.subarray(0, done);
      if (!fd.desc.startsWith("/")) return { kind: "send", peer: fd.desc, fd: fd.fd, data };
      const offset = name === "pwrite64"
        ? Number(args[3])
        : name === "pwritev"
        ? Number(args[3])
        : undefined;
      return { kind: "write", path: fd.desc, fd: fd.fd, data, offset };
    }
    case "read":
    case "readv":
    case "recvfrom":
    case "recvmsg": {
      const fd = fdOf(args[0]);
      if (!fd || fd.desc.startsWith("/") || !fd.desc.startsWith("UNIX")) return undefined;
      const data = name === "read" || name === "recvfrom" ? bytes(args[1]) : iovecs(args[1]);
      return { kind: "receive", peer: fd.desc, data: data.subarray(0, done) };
    }
    case "ftruncate": {
      const fd = fdOf(args[0]);
      return fd && { kind: "truncate", path: fd.desc, length: Number(args[1]) };
    }
    case "truncate":
      return { kind: "truncate", path: pathAt(undefined, args[0]), length: Number(args[1]) };
    case "fsync":
    case "fdatasync": {
      const fd = fdOf(args[0]);
      return fd && { kind: "sync", path: fd.desc };
    }
    case "rename":
      return { kind: "rename", from: pathAt(undefined, args[0]), to: pathAt(undefined, args[1]) };
    case "renameat":
    case "renameat2":
      return { kind: "rename", from: pathAt(args[0], args[1]), to: pathAt(args[2], args[3]) };
    case "link":
      return { kind: "link", from: pathAt(undefined, args[0]), to: pathAt(undefined, args[1]) };
    case "linkat":
      return { kind: "link", from: pathAt(args[0], args[1]), to: pathAt(args[2], args[3]) };
    case "unlink":
      return { kind: "unlink", path: pathAt(undefined, args[0]) };
    case "unlinkat": {
      const path = pathAt(args[0], args[1]);
      return args[2]?.includes("AT_REMOVEDIR") ? { kind: "rmdir", path } : { kind: "unlink", path };
    }
    case "mkdir":
      return { kind: "mkdir", path: pathAt(undefined, args[0]), mode: parseInt(args[1], 8) };
    case "mkdirat":
      return { kind: "mkdir", path: pathAt(args[0], args[1]), mode: parseInt(args[2], 8) };
    case "rmdir":
      return { kind: "rmdir", path: pathAt(undefined, args[0]) };
  }
  return undefined;
}

/**
 * The operations of `trace` in the order they completed (a call split by another thread's counts
 * where it resumed).
 */
export function parseTrace(trace: string): Timed[] {
  const ops: Timed[] = [];
  const pending = new Map<number, string>();
  for (const line of trace.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const tid = Number(m[1]);
    const time = Number(m[2]);
    let rest = m[3];
    if (rest.startsWith("+++") || rest.startsWith("---")) continue;
    if (rest.endsWith(" <unfinished ...>")) {
      pending.set(tid, rest.slice(0, -" <unfinished ...>".length));
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/s.exec(rest);
    if (resumed) {
      const start = pending.get(tid);
      pending.delete(tid);
      if (start === undefined) continue;
      rest = start + resumed[2];
    }
    const call = /^(\w+)\((.*)$/s.exec(rest);
    if (!call) continue;
    const op = operation(call[1], call[2]);
    if (op) ops.push({ ...op, time, tid });
  }
  return ops;
}
