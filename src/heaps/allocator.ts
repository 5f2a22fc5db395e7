/**
 * One way to get buffers whatever the system offers: a heap by role, or `/dev/udmabuf` when no
 * heap is usable.
 *
 * @module
 */
import type { DmaBuf } from "../dmabuf/buffer.ts";
import type { ErrnoError } from "../errors.ts";
import { type AllocateOptions, type HeapOptions, openHeap } from "./heap.ts";
import type { HeapRole } from "./roles.ts";
import { openUdmabuf } from "./udmabuf.ts";

/** What heaps and udmabuf have in common. */
export interface Allocator {
  /** The heap's name, or `"udmabuf"`. */
  readonly name: string;
  /** The device node. */
  readonly path: string;
  /** Allocates a zero-filled buffer of at least `size` bytes. */
  allocate(size: number, options?: AllocateOptions): DmaBuf;
  /** Closes the device fd; buffers stay valid. */
  close(): void;
  /** Same as `close()`. */
  [Symbol.dispose](): void;
}

/** Options for {@linkcode openAllocator}. */
export interface OpenAllocatorOptions extends HeapOptions {
  /** The heap role wanted. Default `"system"`. */
  role?: HeapRole;
  /** Fall back to `/dev/udmabuf` when no such heap can be opened. Default `true`. */
  fallback?: boolean;
}

/**
 * Opens the heap playing `role`, or `/dev/udmabuf` when that heap is missing or closed to
 * this process. If neither opens, the heap's error is thrown.
 *
 * @param options Role, fallback and kernel.
 * @returns A heap or the udmabuf device.
 *
 * @example Getting buffers from whatever is there
 * ```ts
 * import { openAllocator } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * using alloc = openAllocator();
 * using buf = alloc.allocate(4096);
 * assert.equal(buf.size, 4096);
 * ```
 */
export function openAllocator(options: OpenAllocatorOptions = {}): Allocator {
  const role = options.role ?? "system";
  try {
    return openHeap({ role }, options);
  } catch (heapError) {
    const code = (heapError as ErrnoError).code;
    if (options.fallback === false || !["ENOENT", "EACCES", "EPERM"].includes(code)) {
      throw heapError;
    }
    try {
      return openUdmabuf(options);
    } catch {
      throw heapError;
    }
  }
}
