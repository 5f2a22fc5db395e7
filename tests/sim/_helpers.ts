/**
 * Helpers for the simulated kernel's tests: allocate through the heap ioctl, assert an errno.
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

/** Asserts that `fn` throws an errno error with `code` (and returns it). */
export function assertErrno(fn: () => unknown, code: string, syscall?: string): Error {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, `expected ${code}, nothing was thrown`);
  assert.equal((err as { code?: string }).code, code, String(err));
  if (syscall) assert.equal((err as { syscall?: string }).syscall, syscall);
  return err;
}

/** Parses fdinfo text into a map of its fields. */
export function fdinfo(k: Kernel, fd: number): Map<string, string> {
  const text = k.readText(`/proc/self/fdinfo/${fd}`);
  return new Map(text.trimEnd().split("\n").map((l) => l.split(":\t") as [string, string]));
}

/** A user buffer holding a NUL-terminated string. */
export function cString(k: Kernel, s: string, size = s.length + 1): UserBuffer {
  const ub = k.userBuffer(size);
  ub.bytes.set(new TextEncoder().encode(s).subarray(0, size));
  return ub;
}
