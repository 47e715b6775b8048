/**
 * How a write splits its rows into multi-row statements. A multi-row `INSERT`'s text depends on
 * its number of rows, and the store's writer keeps a prepared statement per text for as long as
 * its connection lives (`thread_writer.ts`), each about 25 KB of native memory (a 16-row upsert
 * of 8 columns, measured). Statements of any row count let an idle member of 50 keep dozens of
 * them, one per batch size its heartbeat writes happened to have (issue 15: its memory grew
 * with N). Sizes that are powers of two bound the texts per table to a handful, whatever N.
 *
 * @module
 */

/**
 * `rows` in order, cut into chunks whose sizes are powers of two, largest first, each at most
 * `max` rows (rounded down to a power of two; at least 1): 49 rows, `max` 512 → 32, 16, 1.
 * Empty for no rows.
 */
export function rowChunks<T>(rows: readonly T[], max: number): T[][] {
  let cap = 1;
  while (cap * 2 <= max) cap *= 2;
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length;) {
    let size = cap;
    while (size > rows.length - i) size /= 2;
    chunks.push(rows.slice(i, i + size));
    i += size;
  }
  return chunks;
}
