import { createColors } from "picocolors";

/**
 * Where the CLI writes, and how: colours only for a terminal (or FORCE_COLOR),
 * never in logs or pipes, whatever else the environment says.
 */
export interface Output {
  json: boolean;
  colors: ReturnType<typeof createColors>;
  /** Results: tables for people, JSON for scripts. */
  out(text: string): void;
  /** Progress and diagnostics, so stdout stays clean for `--json`. */
  err(text: string): void;
}

export function colorsFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== "0") return true;
  return Boolean(stream.isTTY) && env.TERM !== "dumb";
}

export function createOutput(json: boolean): Output {
  return {
    json,
    colors: createColors(colorsFor(process.stdout)),
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  };
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? "-" : String(cell))))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? "").length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** One `key: value` line per field, values that are objects as compact JSON. */
export function details(record: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(record).map((key) => key.length));
  return Object.entries(record)
    .map(([key, value]) => {
      const text = value === null || value === undefined ? "-" : typeof value === "object" ? JSON.stringify(value) : String(value);
      return `${`${key}:`.padEnd(width + 1)} ${text}`;
    })
    .join("\n");
}

export function printList<T extends Record<string, unknown>>(
  output: Output,
  page: { data: T[]; nextCursor: string | null },
  columns: [header: string, cell: (item: T) => string | number | null | undefined][],
): void {
  if (output.json) {
    output.out(JSON.stringify(page));
    return;
  }
  if (page.data.length === 0) {
    output.out("(none)");
    return;
  }
  output.out(
    table(
      columns.map(([header]) => header),
      page.data.map((item) => columns.map(([, cell]) => cell(item))),
    ),
  );
  if (page.nextCursor) output.err(`more: add --cursor ${page.nextCursor}`);
}

export function printRecord(output: Output, record: Record<string, unknown>): void {
  output.out(output.json ? JSON.stringify(record) : details(record));
}
