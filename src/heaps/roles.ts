/**
 * Heap roles: finding "the contiguous heap" whatever this kernel calls it.
 *
 * The CMA heap is named after its CMA area: `default_cma_region` since 6.17, `reserved` when the
 * area comes from `cma=` or the kernel config, otherwise the device-tree node name (`linux,cma`,
 * `default-pool`, `global_cma@68000000`, …). The system heap is `system`.
 *
 * @module
 */
import { argumentError, describe } from "../errors.ts";

/** What a heap is for. */
export type HeapRole = "system" | "contiguous";

/** CMA heap names, most specific first. */
export const CONTIGUOUS_ALIASES: readonly string[] = [
  "default_cma_region",
  "reserved",
  "linux,cma",
  "default-pool",
];

/**
 * Guesses a heap's role from its name.
 *
 * @param name A heap name from `/dev/dma_heap`.
 * @returns The role, or `undefined` for heaps of unknown kind (vendor heaps, …).
 *
 * @example Known names
 * ```ts
 * import { heapRole } from "./roles.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(heapRole("system"), "system");
 * assert.equal(heapRole("reserved"), "contiguous");
 * assert.equal(heapRole("global_cma@68000000"), "contiguous");
 * assert.equal(heapRole("system-uncached"), undefined);
 * ```
 */
export function heapRole(name: string): HeapRole | undefined {
  if (name === "system") return "system";
  if (CONTIGUOUS_ALIASES.includes(name)) return "contiguous";
  // Device-tree reserved-memory nodes: "<something>cma<something>" or "<name>@<unit address>".
  if (/cma/i.test(name) || /^[\w,.-]+@[0-9a-f]+$/i.test(name)) {
    if (!/uncached|secure|protected/i.test(name)) return "contiguous";
  }
  return undefined;
}

/**
 * Picks the heap that plays `role` among `names`.
 *
 * @param names Heap names present.
 * @param role The role wanted.
 * @returns The chosen name, or `undefined`.
 *
 * @example The canonical CMA name wins
 * ```ts
 * import { pickHeap } from "./roles.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(pickHeap(["system", "reserved", "default_cma_region"], "contiguous"), "default_cma_region");
 * ```
 */
export function pickHeap(names: readonly string[], role: HeapRole): string | undefined {
  if (!Array.isArray(names)) {
    throw argumentError(
      "type",
      "pickHeap",
      "names",
      `must be an array of heap names, got ${describe(names)}`,
    );
  }
  if (role === "system") return names.includes("system") ? "system" : undefined;
  for (const alias of CONTIGUOUS_ALIASES) if (names.includes(alias)) return alias;
  return [...names].sort().find((n) => heapRole(n) === "contiguous");
}
