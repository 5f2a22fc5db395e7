/**
 * Human-readable sizes, both ways: `"4MiB"`, `"1.5 MiB"`, `"64k"`, `"4096"` → bytes, and bytes →
 * `"4.0 MiB"`. Every unit is a power of 1024 (`k`, `K`, `KiB` and `KB` all mean 1024), as in
 * `dmabuf_dump` and `/proc/meminfo`.
 *
 * @module
 */
import { UsageError } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
};
const SIZE = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:([bkmgt])(?:i?b)?)?\s*$/i;

/**
 * Parses a size. A fraction of a byte is rounded up (`"1.3k"` → 1332).
 *
 * @param text `"4096"`, `"64k"`, `"4MiB"`, `"1.5 MiB"`, `"2G"`, `"512B"`.
 * @returns The number of bytes, a safe integer ≥ 0.
 * @throws {UsageError} For anything else, or a size beyond `Number.MAX_SAFE_INTEGER`.
 *
 * @example Sizes with and without units
 * ```ts
 * import { parseSize } from "@dmabuf/dmabuf/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseSize("4MiB"), 4 * 1024 * 1024);
 * assert.equal(parseSize("1.5 MiB"), 1572864);
 * assert.equal(parseSize("64k"), 65536);
 * assert.equal(parseSize("4096"), 4096);
 * assert.throws(() => parseSize("four"), { name: "UsageError" });
 * ```
 */
export function parseSize(text: string): number {
  const m = typeof text === "string" ? SIZE.exec(text) : null;
  if (!m) {
    throw new UsageError(
      `Invalid size ${
        JSON.stringify(text)
      }: expected a number with an optional unit (4096, 64k, 4MiB, 1.5 GiB)`,
    );
  }
  const bytes = Math.ceil(Number(m[1]) * UNITS[(m[2] ?? "").toLowerCase()]);
  if (!Number.isSafeInteger(bytes)) {
    throw new UsageError(`Invalid size ${JSON.stringify(text)}: too large`);
  }
  return bytes;
}

/**
 * Formats a byte count with a binary unit and one decimal (`"4.0 MiB"`); below 1 KiB, whole
 * bytes (`"512 B"`).
 *
 * @param bytes A number of bytes.
 * @returns The text.
 *
 * @example Formatting
 * ```ts
 * import { formatSize } from "@dmabuf/dmabuf/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatSize(4 * 1024 * 1024), "4.0 MiB");
 * assert.equal(formatSize(1536), "1.5 KiB");
 * assert.equal(formatSize(512), "512 B");
 * ```
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? "-" : "";
  let v = Math.abs(bytes);
  if (v < 1024) return `${sign}${v} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  // 1023.96 KiB would print as "1024.0 KiB": carry into the next unit instead.
  if (Number(v.toFixed(1)) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${sign}${v.toFixed(1)} ${units[i]}`;
}
