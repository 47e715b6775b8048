/**
 * Splitting a SQL script into statements for `cohort sql`, the way SQLite's own
 * `sqlite3_complete` sees them.
 *
 * @module
 */

/** One statement of a script. */
export interface SqlStatement {
  /** The statement's text, trimmed, without its terminating `;`. */
  text: string;
  /** Its first keyword, upper-cased (`"SELECT"`), or `""` if it does not start with a word. */
  keyword: string;
}

const WORD = /[A-Za-z_0-9$]/;

/**
 * Splits `text` on the `;` that end statements. A `;` does not split inside a quoted string or
 * identifier (`'…'`, `"…"`, `` `…` ``, `[…]`), a comment (`-- …`, `/* … *\/`), or the body of a
 * `CREATE TRIGGER … BEGIN … END` (where `CASE … END` is tracked so it does not end the body).
 * Comments before a statement are not part of it, statements holding only whitespace and
 * comments are dropped, and an unterminated last statement is kept.
 */
export function splitSqlStatements(text: string): SqlStatement[] {
  const out: SqlStatement[] = [];
  let start = -1; // index of the current statement's first code character, -1 before it
  let words: string[] = []; // first words of the current statement, upper-cased
  let lastWord = "";
  let caseDepth = 0;

  const finish = (end: number) => {
    if (start !== -1) out.push({ text: text.slice(start, end).trim(), keyword: words[0] ?? "" });
    start = -1;
    words = [];
    lastWord = "";
    caseDepth = 0;
  };
  const inTrigger = () => {
    if (words[0] !== "CREATE") return false;
    const i = words[1] === "TEMP" || words[1] === "TEMPORARY" ? 2 : 1;
    return words[i] === "TRIGGER";
  };

  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "-" && next === "-") {
      const nl = text.indexOf("\n", i);
      i = nl === -1 ? text.length : nl + 1;
    } else if (c === "/" && next === "*") {
      const close = text.indexOf("*/", i + 2);
      i = close === -1 ? text.length : close + 2;
    } else if (c === "'" || c === '"' || c === "`" || c === "[") {
      const quote = c === "[" ? "]" : c;
      let j = i + 1;
      for (;;) {
        const k = text.indexOf(quote, j);
        if (k === -1) {
          j = text.length;
          break;
        }
        // A doubled quote is an escaped one inside '…', "…" and `…` (not inside […]).
        if (quote !== "]" && text[k + 1] === quote) {
          j = k + 2;
          continue;
        }
        j = k + 1;
        break;
      }
      if (start === -1) start = i;
      lastWord = "";
      i = j;
    } else if (WORD.test(c)) {
      let j = i + 1;
      while (j < text.length && WORD.test(text[j])) j++;
      const word = text.slice(i, j).toUpperCase();
      if (words.length < 4) words.push(word);
      if (start === -1) start = i;
      if (inTrigger() && word === "CASE") caseDepth++;
      else if (inTrigger() && word === "END" && caseDepth > 0) {
        caseDepth--;
        lastWord = "";
        i = j;
        continue;
      }
      lastWord = word;
      i = j;
    } else if (c === ";") {
      if (!inTrigger() || lastWord === "END") finish(i);
      else lastWord = "";
      i++;
    } else {
      if (!/\s/.test(c)) {
        if (start === -1) start = i;
        lastWord = "";
      }
      i++;
    }
  }
  finish(text.length);
  return out;
}
