/**
 * Reading a server-sent event stream in tests: events as they arrive, with a deadline.
 */

/** One event: its `event:` name (default `message`), `data` and `id`. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** A reader over an event-stream body. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  readonly #queue: SseEvent[] = [];
  /** `retry:` values seen. */
  readonly retries: number[] = [];
  /** Comment lines seen (keep-alives). */
  comments = 0;
  ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next event, or `undefined` when the stream ended; throws after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length === 0) {
      if (this.ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left)));
      const read = await Promise.race([this.#reader.read(), timeout]);
      clearTimeout(timer);
      if (read === "timeout") throw new Error(`no event within ${timeoutMs} ms`);
      if (read.done) {
        this.ended = true;
        continue;
      }
      this.#buffer += this.#decoder.decode(read.value, { stream: true });
      this.#parse();
    }
    return this.#queue.shift();
  }

  /** Stops reading. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }

  #parse(): void {
    let cut: number;
    while ((cut = this.#buffer.indexOf("\n\n")) >= 0) {
      const block = this.#buffer.slice(0, cut);
      this.#buffer = this.#buffer.slice(cut + 2);
      const event: SseEvent = { event: "message", data: "" };
      let data: string[] | undefined;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) this.comments++;
        else if (line.startsWith("retry: ")) this.retries.push(Number(line.slice(7)));
        else if (line.startsWith("event: ")) event.event = line.slice(7);
        else if (line.startsWith("id: ")) event.id = line.slice(4);
        else if (line.startsWith("data: ")) (data ??= []).push(line.slice(6));
      }
      if (data) {
        event.data = data.join("\n");
        this.#queue.push(event);
      }
    }
  }
}
