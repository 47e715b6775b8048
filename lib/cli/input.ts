/**
 * What a command reads from standard input (`init --token -`, `sql -`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { UsageError } from "./usage.ts";

/**
 * All of standard input as UTF-8 text, once its writer closed it: a pipe, a redirected file or
 * a terminal (ended with Ctrl-D) alike.
 *
 * Read as a stream, not with a synchronous read of descriptor 0: when standard input is a pipe
 * whose writer has not written yet (`cohort tokens add NAME | ssh host cohort init … --token -`,
 * or any producer slower than the CLI's start), a synchronous read of a non-blocking descriptor
 * fails with `EAGAIN` under Node instead of waiting.
 *
 * @param what what the text is, for the error (e.g. `"the join token"`)
 * @throws {UsageError} when standard input cannot be read (e.g. it is closed)
 */
export async function readStdin(what: string): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of process.stdin) {
      chunks.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
    }
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message;
    throw new UsageError(`Cannot read ${what} from standard input: ${code}`);
  }
  return Buffer.concat(chunks).toString("utf8");
}
