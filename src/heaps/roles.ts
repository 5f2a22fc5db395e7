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

/** Every {@linkcode HeapRole}. */
export const HEAP_ROLES: readonly HeapRole[] = ["system", "contiguous"];

/**
 * Checks a role given by a caller.
 *
 * @param role The value to check.
 * @param where The call, for the message, e.g. `"openHeap({ role })"`.
 * @returns The role.
 * @throws {TypeError} For anything but a {@linkcode HeapRole}, listing the valid roles.
 *
 * @example An unknown role is a TypeError
 * ```ts
 * import { checkRole } from "./roles.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkRole("contiguous", "openHeap"), "contiguous");
 * assert.throws(() => checkRole("bogus", "openHeap"), TypeError);
 * ```
 */
export function checkRole(role: unknown, where: string): HeapRole {
  if (typeof role === "string" && (HEAP_ROLES as readonly string[]).includes(role)) {
    return role as HeapRole;
  }
  throw argumentError(
    "type",
    where,
    "role",
    `${role === undefined ? "is missing" : `${describe(role)} is not a role`}; valid roles: ${
      HEAP_ROLES.join(", ")
    }`,
  );
}

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
 * @throws {TypeError} For an unknown role.
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
  checkRole(role, "pickHeap()");
  if (role === "system") return names.includes("system") ? "system" : undefined;
  for (const alias of CONTIGUOUS_ALIASES) if (names.includes(alias)) return alias;
  return [...names].sort().find((n) => heapRole(n) === "contiguous");
}
