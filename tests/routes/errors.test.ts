/**
 * `errorResponse` for a member out of file descriptors: an `EMFILE` (or `ENFILE`) met while
 * serving, however deep in the error's causes, is a 503 `E_FD_LIMIT` saying so (it was a 500
 * "Internal server error"), and a run of them is one log line, not one per request.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { UnavailableError } from "../../lib/errors.ts";
import { createLogger } from "../../lib/log.ts";
import { descriptorMessage, errorResponse } from "../../routes/errors.ts";

const test = suite("errorResponse: out of file descriptors");

/** An error as `node:fs` throws it. */
function fsError(code: string): Error {
  return Object.assign(new Error(`${code}: too many open files, open '/x/token-claims.json'`), {
    code,
    syscall: "open",
  });
}

function logged(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "info", write: (l) => lines.push(l) }) };
}

/** The error envelope `res` carries. */
async function envelope(res: Response): Promise<{ error: string; error_code: number }> {
  return await res.json() as { error: string; error_code: number };
}

const request = new Request("https://member/core/internal/tokens/claim", { method: "POST" });

test("EMFILE is a 503 naming the member's limit of open files, never a path", async () => {
  const { logger } = logged();
  const res = errorResponse(fsError("EMFILE"), logger, request);
  assert.is(res.status, 503);
  const body = await envelope(res);
  assert.is(body.error_code, 503);
  assert.match(
    body.error,
    /the member is out of file descriptors( \(limit \d+\))?: raise its limit/,
  );
  assert.match(body.error, /LimitNOFILE/);
  assert.not.match(body.error, /token-claims|\/x\//);
});

test("ENFILE names the machine's limit", async () => {
  const { logger } = logged();
  const res = errorResponse(fsError("ENFILE"), logger, request);
  assert.is(res.status, 503);
  assert.is((await envelope(res)).error, descriptorMessage("ENFILE"));
  assert.match(descriptorMessage("ENFILE"), /machine .* out of file descriptors \(ENFILE\)/);
});

test("found in the cause chain of another error", () => {
  const { logger } = logged();
  const wrapped = new Error("write failed", { cause: fsError("EMFILE") });
  assert.is(errorResponse(wrapped, logger, request).status, 503);
});

test("a run of failures is one log line", () => {
  const { lines, logger } = logged();
  for (let i = 0; i < 50; i++) errorResponse(fsError("EMFILE"), logger, request);
  const fd = lines.filter((l) => /out of file descriptors/.test(JSON.parse(l).msg));
  assert.is(fd.length, 1, lines.join("\n"));
  assert.is(lines.length, 1, "and no internal-error line");
});

test("cohort's own errors keep their answer", () => {
  const { logger } = logged();
  const res = errorResponse(new UnavailableError("Not yet"), logger, request);
  assert.is(res.status, 503);
});

test.run();
