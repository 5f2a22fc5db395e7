/**
 * Helpers for the simulated kernel's tests: allocate through the heap ioctl (the errno and fdinfo
 * helpers are the shared ones of `../_helpers.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Kernel, UserBuffer } from "../../src/kernel/types.ts";
import { dma_heap_allocation_data as A, DMA_HEAP_IOCTL_ALLOC } from "../../src/uapi/dma_heap.ts";
import { O_CLOEXEC, O_RDWR } from "../../src/uapi/constants.ts";

/** The 24-byte allocation struct with its fields set. */
export function allocData(k: Kernel, len: number, fdFlags = O_RDWR | O_CLOEXEC): UserBuffer {
  const ub = k.userBuffer(A.size);
  ub.view.setBigUint64(A.len, BigInt(len), true);
  ub.view.setUint32(A.fd_flags, fdFlags, true);
  return ub;
}

/** `DMA_HEAP_IOCTL_ALLOC` on `heapFd`; returns the new dma-buf fd. */
export function alloc(
  k: Kernel,
  heapFd: number,
  len: number,
  fdFlags = O_RDWR | O_CLOEXEC,
): number {
  const ub = allocData(k, len, fdFlags);
  assert.equal(k.ioctl(heapFd, DMA_HEAP_IOCTL_ALLOC, ub, "DMA_HEAP_IOCTL_ALLOC"), 0);
  return ub.view.getUint32(A.fd, true);
}

export { assertErrno, fdinfo } from "../_helpers.ts";

/** A user buffer holding a NUL-terminated string. */
export function cString(k: Kernel, s: string, size = s.length + 1): UserBuffer {
  const ub = k.userBuffer(size);
  ub.bytes.set(new TextEncoder().encode(s).subarray(0, size));
  return ub;
}
