/**
 * Plain-text tables: columns padded to their widest cell, numbers right-aligned.
 *
 * @module
 */

/** A column: its header and whether its cells align right. */
export interface Column {
  /** The header. */
  title: string;
  /** Right-align (numbers, sizes). */
  right?: boolean;
}

/**
 * Renders rows under headers, two spaces between columns, no trailing spaces.
 *
 * @param columns The columns.
 * @param rows The cells, as text.
 * @param indent Spaces before each line.
 * @returns The lines, joined with `\n`, ending with `\n`.
 *
 * @example Two columns
 * ```ts
 * import { renderTable } from "./table.ts";
 * import assert from "node:assert/strict";
 *
 * const text = renderTable([{ title: "Name" }, { title: "Size", right: true }], [["a", "4.0 KiB"]]);
 * assert.equal(text, "Name     Size\na     4.0 KiB\n");
 * ```
 */
export function renderTable(columns: Column[], rows: string[][], indent = 0): string {
  const widths = columns.map((c, i) =>
    Math.max(c.title.length, ...rows.map((r) => (r[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    " ".repeat(indent) +
    cells.map((cell, i) => columns[i].right ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))
      .join("  ").trimEnd();
  return [columns.map((c) => c.title), ...rows].map(line).join("\n") + "\n";
}
