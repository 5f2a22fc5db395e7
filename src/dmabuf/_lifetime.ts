/**
 * The garbage-collection backstop: the fd and mappings of an owner collected without `close()`
 * are released here. Best effort — collection may never happen — so `close()` and `using`
 * remain the way to release. Each owner registers one record with a separate unregister token
 * (an object only the owner holds, as denodrivers/sqlite3 does) and unregisters on close.
 *
 * @module
 */
import type { Kernel, MappedRegion } from "../kernel/types.ts";

/**
 * What the backstop releases for one collected owner: its fd when it owns one, and the regions
 * of its live mappings. One record per owner covers its mappings too: a mapping holds its
 * buffer, and the buffer holds its mappings, so they become unreachable together.
 */
export interface OwnerRecord {
  /** The kernel of the fd. */
  kernel: Kernel;
  /** The owned fd, or undefined for a borrowed one (which is never closed here). */
  fd: number | undefined;
  /** Live mappings made through the owner. */
  regions: Set<MappedRegion> | undefined;
  /** The owner's class, e.g. `"DmaBuf"`. */
  what: string;
}

let leaks = 0;

/**
 * How many fds and mappings the GC backstop has released since the process started: each one
 * is an owner that was dropped without `close()` (or `using`). Zero in a correct program.
 *
 * @returns The count.
 *
 * @example Checking a script leaked nothing
 * ```ts
 * import { leakedCount, openHeap } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * const before = leakedCount();
 * using heap = openHeap("system");
 * using _buf = heap.allocate(4096);
 * assert.equal(leakedCount(), before);
 * ```
 */
export function leakedCount(): number {
  return leaks;
}

/** The registry every fd owner uses. */
export const backstop: FinalizationRegistry<OwnerRecord> = new FinalizationRegistry(
  (held: OwnerRecord) => {
    for (const region of held.regions ?? []) {
      leaks++;
      bestEffort(() => held.kernel.munmap(region));
    }
    if (held.fd !== undefined) {
      leaks++;
      bestEffort(() => held.kernel.close(held.fd!));
    }
  },
);

function bestEffort(fn: () => void): void {
  try {
    fn();
  } catch {
    // Nothing to report to: the owner is gone. The fd may already have been closed by hand.
  }
}
