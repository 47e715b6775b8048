/**
 * What the CLI tests share: a stream that keeps what the command wrote.
 *
 * @module
 */
import { Writable } from "node:stream";

/** A writable stream that keeps everything written to it, as text, in `text`. */
export function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk, _enc, done) {
      w.text += chunk.toString();
      done();
    },
  }) as Writable & { text: string };
  w.text = "";
  return w;
}
