/**
 * drivers/dma-buf/dma-resv.c: the reservation object of a buffer — its fences, each with a
 * usage (`kernel` < `write` < `read` < `bookkeep`). A query for a usage sees every fence of that
 * usage or a lower one, so "read" (what a writer must wait for) is every fence, and "write"
 * (what a reader must wait for) is the writers.
 *
 * The model keeps the fences in the array `dma_buf.resv` (one entry per fence, no lock: JS is
 * single-threaded); a new fence takes the slot of a signalled one, as in Linux.
 *
 * @module
 */
import {
  type dma_fence,
  dma_fence_add_callback,
  dma_fence_array_create,
  dma_fence_is_signaled,
  dma_fence_stub,
  type dma_resv_usage,
} from "./dma_fence.ts";

/** One fence slot of a reservation object. */
export interface dma_resv_entry {
  /** The fence. */
  fence: dma_fence;
  /** Its usage. */
  usage: dma_resv_usage;
}

/** `struct dma_resv`: the fence list of one buffer. */
export type dma_resv = dma_resv_entry[];

const ORDER: Record<dma_resv_usage, number> = { kernel: 0, write: 1, read: 2, bookkeep: 3 };

/** `dma_resv_usage_rw(write)`: what an access must wait for (writers wait for all). */
export function dma_resv_usage_rw(write: boolean): dma_resv_usage {
  return write ? "read" : "write";
}

/**
 * `dma_resv_add_fence(obj, fence, usage)`: adds `fence` in the first slot holding a fence it
 * supersedes (same context, same or earlier seqno, same or wider usage) or a signalled one, or
 * in a new slot.
 */
export function dma_resv_add_fence(resv: dma_resv, fence: dma_fence, usage: dma_resv_usage): void {
  for (let i = 0; i < resv.length; i++) {
    const old = resv[i];
    const same = old.fence.context === fence.context && ORDER[old.usage] >= ORDER[usage] &&
      fence.seqno >= old.fence.seqno;
    if (same || dma_fence_is_signaled(old.fence)) {
      resv[i] = { fence, usage };
      return;
    }
  }
  resv.push({ fence, usage });
}

/** `dma_resv_for_each_fence(cursor, obj, usage, fence)`: the fences visible at `usage`. */
export function dma_resv_get_fences(resv: dma_resv, usage: dma_resv_usage): dma_fence[] {
  return resv.filter((r) => ORDER[r.usage] <= ORDER[usage]).map((r) => r.fence);
}

/** `dma_resv_test_signaled(obj, usage)`. */
export function dma_resv_test_signaled(resv: dma_resv, usage: dma_resv_usage): boolean {
  return dma_resv_get_fences(resv, usage).every(dma_fence_is_signaled);
}

/**
 * `dma_resv_get_singleton(obj, usage, &fence)`: one fence standing for every unsignalled fence
 * at `usage` — none: the signalled stub (what EXPORT_SYNC_FILE then carries), one: that fence,
 * several: a `dma_fence_array` of them.
 */
export function dma_resv_get_singleton(resv: dma_resv, usage: dma_resv_usage): dma_fence {
  const fences = dma_resv_get_fences(resv, usage).filter((f) => !dma_fence_is_signaled(f));
  if (fences.length === 0) return dma_fence_stub;
  if (fences.length === 1) return fences[0];
  return dma_fence_array_create(fences);
}

/**
 * Arms `cb` on the first unsignalled fence at `usage` (what `dma_buf_poll_add_cb` does).
 *
 * @returns False when every fence has signalled (nothing was armed).
 */
export function dma_resv_add_cb_first(
  resv: dma_resv,
  usage: dma_resv_usage,
  cb: (f: dma_fence) => void,
): boolean {
  for (const f of dma_resv_get_fences(resv, usage)) {
    if (dma_fence_add_callback(f, cb)) return true;
  }
  return false;
}
