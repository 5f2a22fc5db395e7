/**
 * Markdown tables for `ratios.ts`.
 *
 * @module
 */

/** Formats nanoseconds for a table: `812 ns`, `12.4 µs`, `1.36 ms`. */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return "—";
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  return `${(ns / 1e6).toFixed(2)} ms`;
}

/** Formats a ratio with a ✓/✗ against `limit` (no mark without a limit). */
export function fmtRatio(r: number, limit?: number): string {
  if (!Number.isFinite(r)) return "—";
  const s = `${r.toFixed(2)}×`;
  if (limit === undefined) return s;
  return `${s} ${r <= limit ? "✓" : "✗"} (≤ ${limit})`;
}

/** A markdown table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}
