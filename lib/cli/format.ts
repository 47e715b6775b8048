/**
 * Output formats for list commands: `table` (aligned columns for people), `json` and `yaml`
 * (for scripts).
 *
 * @module
 */

/** The formats `-f/--format` accepts. */
export const FORMATS = ["table", "json", "yaml"] as const;
/** One of {@link FORMATS}. */
export type Format = typeof FORMATS[number];

/** Renders rows as an aligned text table with a header line. Cells are stringified. */
export function renderTable(headers: string[], rows: unknown[][]): string {
  const cells = rows.map((row) => row.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [line(headers), ...cells.map(line)].join("\n") + "\n";
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value).replace(/\s*\n\s*/g, " ");
}

const PLAIN = /^[A-Za-z_][A-Za-z0-9_.:/-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function yamlScalar(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const text = String(value);
  if (PLAIN.test(text) && !RESERVED.test(text)) return text;
  return JSON.stringify(text); // a JSON string is a valid double-quoted YAML scalar
}

/** Renders JSON-like data as block YAML (2-space indent). */
export function renderYaml(value: unknown, indent = ""): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value.map((item) => {
      if (item !== null && typeof item === "object" && Object.keys(item).length) {
        const body = renderYaml(item, indent + "  ");
        return `${indent}- ${body.slice(indent.length + 2)}`;
      }
      return `${indent}- ${yamlInline(item)}\n`;
    }).join("");
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return `${indent}{}\n`;
    return entries.map(([k, v]) => {
      if (v !== null && typeof v === "object" && !isEmpty(v)) {
        return `${indent}${yamlScalar(k)}:\n${renderYaml(v, indent + "  ")}`;
      }
      return `${indent}${yamlScalar(k)}: ${yamlInline(v)}\n`;
    }).join("");
  }
  return `${indent}${yamlScalar(value)}\n`;
}

function isEmpty(v: object): boolean {
  return Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0;
}

function yamlInline(v: unknown): string {
  if (Array.isArray(v)) return "[]";
  if (v !== null && typeof v === "object") return "{}";
  return yamlScalar(v);
}

/** Renders `data` in `format`; `table` uses `headers` and `toRow`. */
export function renderList<T>(
  format: Format,
  data: T[],
  headers: string[],
  toRow: (item: T) => unknown[],
): string {
  if (format === "json") return JSON.stringify(data, null, 2) + "\n";
  if (format === "yaml") return renderYaml(data);
  return renderTable(headers, data.map(toRow));
}
