/**
 * One way to get buffers whatever the system offers: a heap by role, or `/dev/udmabuf` when the
 * system heap is missing or closed to this process. A property asked for is never dropped: no
 * fallback stands in for the contiguous heap, and the allocator says what it is.
 *
 * @module
 */
import type { DmaBuf } from "../dmabuf/buffer.ts";
import { type ErrnoError, optionsArg } from "../errors.ts";
import { type AllocateOptions, type HeapOptions, openHeap } from "./heap.ts";
import { checkRole, type HeapRole } from "./roles.ts";
import { openUdmabuf, UDMABUF_PATH } from "./udmabuf.ts";

/** What heaps and udmabuf have in common. */
export interface Allocator {
  /** The heap's name, or `"udmabuf"`. */
  readonly name: string;
  /** The device node. */
  readonly path: string;
  /**
   * The role it plays: `"system"` for the system heap and udmabuf (scattered pages),
   * `"contiguous"` for the CMA heap, `undefined` for a heap whose name does not tell.
   */
  readonly role: HeapRole | undefined;
  /** Whether its buffers are physically contiguous. */
  readonly contiguous: boolean;
  /** Allocates a zero-filled buffer of at least `size` bytes. */
  allocate(size: number, options?: AllocateOptions): DmaBuf;
  /** Closes the device fd; buffers stay valid. */
  close(): void;
  /** Same as `close()`. */
  [Symbol.dispose](): void;
}

/** Options for {@linkcode openAllocator}. */
export interface OpenAllocatorOptions extends HeapOptions {
  /** The heap role wanted. Default `"system"`. Ignored when `name` is given. */
  role?: HeapRole;
  /**
   * A heap by name (`"system"`, `"reserved"`, …), or `"udmabuf"` for `/dev/udmabuf` itself.
   * A name is opened as asked, never replaced by a fallback.
   */
  name?: string;
  /**
   * For role `"system"`: fall back to `/dev/udmabuf` when the system heap is missing or closed
   * to this process. Default `true`. Not available for `"contiguous"`: udmabuf's pages are
   * scattered, so it cannot stand in for the CMA heap.
   */
  fallback?: boolean;
}

/**
 * Opens the heap playing `role` (default `"system"`), or a device by `name`. For role `"system"`
 * only, `/dev/udmabuf` stands in when the system heap is missing or refused (`ENOENT`, `EACCES`,
 * `EPERM`); if neither opens, the heap's error is thrown. Check `contiguous` and `name` on the
 * result to see what you got.
 *
 * @param options Role or name, fallback and kernel.
 * @returns A heap or the udmabuf device.
 * @throws {Deno.errors.NotFound} `ENOENT` when no heap plays the role (for `"contiguous"`,
 * listing the heaps present) or the named device is missing.
 * @throws {Deno.errors.PermissionDenied} `EACCES` with the udev hint when refused and no
 * fallback applies.
 * @throws {TypeError} For an unknown role or a fallback asked for the contiguous role.
 *
 * @example Getting buffers from whatever is there
 * ```ts
 * import { openAllocator } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * using alloc = openAllocator();
 * assert.equal(alloc.contiguous, false);
 * using buf = alloc.allocate(4096);
 * assert.equal(buf.size, 4096);
 * ```
 */
export function openAllocator(options?: OpenAllocatorOptions): Allocator {
  options = optionsArg("openAllocator", options);
  if (options.name !== undefined) {
    if (options.name === "udmabuf" || options.name === UDMABUF_PATH) return openUdmabuf(options);
    return openHeap(options.name, options);
  }
  const role = checkRole(options.role ?? "system", "openAllocator({ role })");
  if (role === "contiguous" && options.fallback === true) {
    throw new TypeError(
      "openAllocator(): no fallback for the contiguous role (udmabuf's pages are scattered)",
    );
  }
  try {
    return openHeap({ role }, options);
  } catch (heapError) {
    const code = (heapError as ErrnoError).code;
    if (
      role !== "system" || options.fallback === false ||
      !["ENOENT", "EACCES", "EPERM"].includes(code)
    ) {
      throw heapError;
    }
    try {
      return openUdmabuf(options);
    } catch {
      throw heapError;
    }
  }
}
