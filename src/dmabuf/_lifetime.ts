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
  | { kind: "mapping"; kernel: Kernel; region: MappedRegion }
  | BufferRecord;

/**
 * A buffer's record: its fd when owned, and the regions of its live mappings. One registration
 * per buffer covers its mappings too: a mapping holds its buffer, and the buffer holds its
 * mappings, so they become unreachable together.
 */
export interface BufferRecord {
  kind: "buffer";
  kernel: Kernel;
  fd: number | undefined;
  regions: Set<MappedRegion> | undefined;
}

let leaks = 0;

/** How many owners the backstop has released since the process started. */
export function leakedCount(): number {
  return leaks;
}

/** The registry shared by heaps, buffers and mappings. */
export const backstop: FinalizationRegistry<Leaked> = new FinalizationRegistry((held: Leaked) => {
  if (held.kind === "buffer") {
    for (const region of held.regions ?? []) {
      leaks++;
      release(() => held.kernel.munmap(region));
    }
    if (held.fd !== undefined) {
      leaks++;
      release(() => held.kernel.close(held.fd!));
    }
    return;
  }
  leaks++;
  release(() => {
    if (held.kind === "fd") held.kernel.close(held.fd);
    else held.kernel.munmap(held.region);
  });
});

function release(fn: () => void): void {
  try {
    fn();
  } catch {
    // Nothing to report to: the owner is gone. The fd may already have been closed by hand.
  }
}
