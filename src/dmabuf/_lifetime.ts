/**
 * The garbage-collection backstop: fds and mappings whose owner object was collected without
 * `close()` are released here. Best effort — collection may never happen — so `close()` and
 * `using` remain the way to release. Each owner registers a separate token-free held value and
 * unregisters on explicit close, as denodrivers/sqlite3 does.
 *
 * @module
 */
import type { Kernel, MappedRegion } from "../kernel/types.ts";

/** What the backstop releases for one collected owner. */
export type Leaked =
  | { kind: "fd"; kernel: Kernel; fd: number; what: string }
  | { kind: "mapping"; kernel: Kernel; region: MappedRegion };

let leaks = 0;

/** How many owners the backstop has released since the process started. */
export function leakedCount(): number {
  return leaks;
}

/** The registry shared by heaps, buffers and mappings. */
export const backstop: FinalizationRegistry<Leaked> = new FinalizationRegistry((held: Leaked) => {
  leaks++;
  try {
    if (held.kind === "fd") held.kernel.close(held.fd);
    else held.kernel.munmap(held.region);
  } catch {
    // Nothing to report to: the owner is gone. The fd may already have been closed by hand.
  }
});
