/**
 * dma-heaps: listing them, opening one by name or role, allocating buffers.
 *
 * @module
 */
import type { Kernel, UserBuffer } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import {
  argumentError,
  describe,
  type ErrnoError,
  errnoError,
  intArg,
  optionsArg,
  typeArg,
} from "../errors.ts";
import { heapCannotFit } from "./_limits.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import { O_CLOEXEC, O_RDONLY, O_RDWR } from "../uapi/constants.ts";
import {
  dma_heap_allocation_data as D,
  DMA_HEAP_DIR,
  DMA_HEAP_IOCTL_ALLOC,
} from "../uapi/dma_heap.ts";
import { adoptDmaBuf, type DmaBuf } from "../dmabuf/buffer.ts";
import { checkRole, type HeapRole, heapRole, pickHeap } from "./roles.ts";

/** Options shared by the heap functions. */
export interface HeapOptions {
  /** The kernel to use; default: the kernel in use (see `kernelSelection()`). */
  kernel?: Kernel;
}

/** A heap as {@linkcode listHeaps} reports it. */
export interface HeapInfo {
  /** The heap's name, e.g. `"system"`. */
  name: string;
  /** Its device node, e.g. `"/dev/dma_heap/system"`. */
  path: string;
  /** What it is for, when the name tells. */
  role: HeapRole | undefined;
  /** Whether this process can open it. */
  accessible: boolean;
  /** The errno name when it cannot, e.g. `"EACCES"`. */
  error?: string;
}

/** Options for {@linkcode DmaHeap.allocate}. */
export interface AllocateOptions {
  /** fd flags for the new buffer: `O_RDWR`/`O_RDONLY`/`O_WRONLY`, `O_CLOEXEC`. Default `O_RDWR | O_CLOEXEC`. */
  fdFlags?: number;
  /** Heap flags; mainline heaps accept only 0. Default 0. */
  heapFlags?: number;
  /** A name for the buffer (at most 31 bytes), set right after allocation. */
  name?: string;
  /**
   * Allocate from a system heap even above `MemAvailable` in `/proc/meminfo`. Off by default:
   * the system heap (drivers/dma-buf/heaps/system_heap.c) allocates order-0 pages with
   * `GFP_HIGHUSER`, so a size the kernel cannot free does not fail with `ENOMEM` — it calls the
   * OOM killer, which can kill this process or another one. Sizes above `MemTotal` (or, for a
   * CMA heap, `CmaTotal`) are refused either way. Default false.
   */
  overcommit?: boolean;
}

/** What makes a kernel have a contiguous (CMA) heap. */
export const CMA_HINT =
  "A contiguous heap needs CONFIG_DMABUF_HEAPS_CMA and a CMA area (cma=<size> on the kernel " +
  "command line, CONFIG_CMA_SIZE_MBYTES, or a shared-dma-pool reserved-memory node); udmabuf " +
  "and the system heap give scattered pages and do not stand in for it";

/** The udev rule that lets a group use the heaps. */
export const UDEV_HINT =
  'Give your user access with a udev rule such as SUBSYSTEM=="dma_heap", GROUP="video", MODE="0660" and add the user to that group, or run as root';

function names(kernel: Kernel): string[] {
  try {
    return kernel.readDir(DMA_HEAP_DIR);
  } catch (e) {
    if ((e as ErrnoError).errno === Errno.ENOENT) return [];
    throw e;
  }
}

/**
 * Lists the heaps in `/dev/dma_heap`, with whether each can be opened.
 *
 * @param options The kernel.
 * @returns The heaps, sorted by name; empty when the kernel has none.
 *
 * @example Listing heaps
 * ```ts
 * import { listHeaps } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * const heaps = listHeaps();
 * assert.ok(heaps.some((h) => h.name === "system"));
 * ```
 */
export function listHeaps(options?: HeapOptions): HeapInfo[] {
  const kernel = kernelOption(optionsArg("listHeaps", options).kernel, "listHeaps");
  return names(kernel).map((name) => {
    const path = `${DMA_HEAP_DIR}/${name}`;
    const info: HeapInfo = { name, path, role: heapRole(name), accessible: true };
    try {
      kernel.close(kernel.open(path, O_RDONLY | O_CLOEXEC));
    } catch (e) {
      info.accessible = false;
      info.error = (e as ErrnoError).code ?? (e as Error).name;
    }
    return info;
  });
}

function validateName(name: unknown): string {
  if (typeof name !== "string") {
    throw argumentError(
      "type",
      "openHeap",
      "heap",
      `must be a string or { role }, got ${describe(name)}`,
    );
  }
  // Control characters (C0, DEL, C1) never name a heap, and would land raw in messages.
  if (
    name === "" || name === "." || name.includes("/") || name.includes("..") ||
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f]/.test(name)
  ) {
    throw argumentError(
      "range",
      "openHeap",
      "heap",
      `must be a non-empty file name without '/', '..' or control characters, got ${
        describe(name)
      }`,
    );
  }
  return name;
}

/**
 * Opens a heap by name (`"system"`) or by role (`{ role: "contiguous" }` finds the CMA heap
 * under any of its names).
 *
 * @param heap A name or a role.
 * @param options The kernel.
 * @returns The open heap.
 * @throws {Deno.errors.NotFound} `ENOENT`, listing the heaps that do exist (also for a role no
 * heap plays: no other heap stands in for the contiguous one).
 * @throws {TypeError} For a selector without a valid role (`{}`, `{ role: "bogus" }`), listing
 * the valid roles.
 * @throws {Deno.errors.PermissionDenied} `EACCES`, with the udev rule that fixes it.
 * @throws {RangeError} `EINVAL` for a name with `/`, `..`, NUL or another control character,
 *   `TypeError` for a name that is not a string, an unknown role or options that are not an
 *   object (checked before any I/O).
 * @throws {ErrnoError} `ENAMETOOLONG` from `open` for a name longer than 255 bytes.
 *
 * @example Allocating from the system heap
 * ```ts
 * import { openHeap } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using buf = heap.allocate(1, { name: "tiny" });
 * assert.equal(buf.size, 4096);
 * assert.equal(buf.info().name, "tiny");
 * ```
 */
export function openHeap(heap: string | { role: HeapRole }, options?: HeapOptions): DmaHeap {
  const kernel = kernelOption(optionsArg("openHeap", options).kernel, "openHeap");
  let name: string;
  if (typeof heap === "object" && heap !== null) {
    const role = checkRole(heap.role, "openHeap({ role })");
    const present = names(kernel);
    const found = pickHeap(present, role);
    if (found === undefined) {
      throw errnoError(Errno.ENOENT, "open", {
        path: DMA_HEAP_DIR,
        detail: `no ${role} heap; heaps present: ${present.join(", ") || "none"}`,
        hint: role === "contiguous" ? CMA_HINT : undefined,
      });
    }
    name = found;
  } else {
    name = validateName(heap);
  }
  const path = `${DMA_HEAP_DIR}/${name}`;
  let fd: number;
  try {
    fd = kernel.open(path, O_RDONLY | O_CLOEXEC);
  } catch (e) {
    const err = e as ErrnoError;
    if (err.errno === Errno.ENOENT) {
      const present = names(kernel);
      throw errnoError(Errno.ENOENT, "open", {
        path,
        detail: present.length
          ? `no heap named "${name}"; heaps present: ${present.join(", ")}`
          : `this kernel has no dma-heaps (${DMA_HEAP_DIR} is empty or missing)`,
        cause: e,
      });
    }
    if (err.errno === Errno.EACCES || err.errno === Errno.EPERM) {
      throw errnoError(err.errno, "open", { path, hint: UDEV_HINT, cause: e });
    }
    throw e;
  }
  return new DmaHeap(kernel, name, fd);
}

/**
 * An open dma-heap. Allocates buffers; `close()` (or `using`) closes the heap's fd, which does
 * not affect buffers already allocated.
 *
 * Like every fd owner of the library, a DmaHeap has `fd`, `kernel` and `closed`, an idempotent
 * `close()` and `[Symbol.dispose]` (`using`); its other methods throw `Deno.errors.BadResource`
 * once it is closed ("Cannot … a closed DmaHeap").
 */
export class DmaHeap extends FdResource {
  #arg: UserBuffer;
  /** The heap's name. */
  readonly name: string;
  /** Its device node. */
  readonly path: string;
  /** What it is for, when the name tells. */
  readonly role: HeapRole | undefined;
  /** Whether its buffers are physically contiguous (the CMA heap). */
  readonly contiguous: boolean;

  /**
   * Use {@linkcode openHeap}.
   *
   * @param kernel The kernel.
   * @param name The heap name.
   * @param fd The open heap fd (now owned by this object).
   */
  constructor(kernel: Kernel, name: string, fd: number) {
    super(kernel, fd, "DmaHeap");
    this.name = name;
    this.path = `${DMA_HEAP_DIR}/${name}`;
    this.role = heapRole(name);
    this.contiguous = this.role === "contiguous";
    this.#arg = kernel.userBuffer(D.size);
  }

  /**
   * Allocates a zero-filled buffer (`DMA_HEAP_IOCTL_ALLOC`). The kernel rounds the size up to
   * a whole page.
   *
   * @param size Bytes wanted: a safe integer > 0.
   * @param options fd flags, heap flags, a name.
   * @returns The buffer, owning its fd.
   * @throws {RangeError} `EINVAL` for a size that is not a safe integer > 0, `fdFlags` outside
   *   32 bits, negative `heapFlags` (`TypeError` for wrong types or options that are not an
   *   object) — before any system call.
   * @throws {ErrnoError} `EINVAL` for flags the kernel refuses; `ENOMEM` when the heap is out of
   *   memory, or, before the ioctl, for a size above the machine's RAM (`MemTotal`), for a
   *   system heap above what the kernel can free (`MemAvailable`, unless `options.overcommit`),
   *   or, for a CMA heap, above the CMA area (`CmaTotal`): the kernel would call the OOM killer
   *   rather than fail (sizes up to 16 MiB are not checked); `EBADF` if the heap was closed.
   *
   * @example Allocating 1 MiB
   * ```ts
   * import { openHeap } from "@dmabuf/dmabuf";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using buf = heap.allocate(1 << 20);
   * assert.equal(buf.info().size, 1 << 20);
   * ```
   */
  allocate(size: number, options?: AllocateOptions): DmaBuf {
    this.checkOpen("allocate from");
    const where = "DmaHeap.allocate";
    intArg(where, "size", size, 1);
    const o = optionsArg(where, options);
    const fdFlags = intArg(
      where,
      "options.fdFlags",
      o.fdFlags ?? (O_RDWR | O_CLOEXEC),
      0,
      2 ** 32 - 1,
    );
    const heapFlags = intArg(where, "options.heapFlags", o.heapFlags ?? 0, 0);
    if (o.name !== undefined) typeArg(where, "options.name", o.name, "string");
    if (o.overcommit !== undefined) typeArg(where, "options.overcommit", o.overcommit, "boolean");
    const page = this.kernel.pageSize;
    const why = heapCannotFit(
      this.kernel,
      this.role === "contiguous"
        ? "contiguous"
        : /^system(?:$|-)/.test(this.name)
        ? "system"
        : "other",
      size,
      o.overcommit === true,
    );
    if (why !== undefined) {
      throw errnoError(Errno.ENOMEM, "ioctl(DMA_HEAP_IOCTL_ALLOC)", {
        path: this.path,
        detail: why,
      });
    }
    const view = this.#arg.view;
    view.setUint32(D.len, size >>> 0, true);
    view.setUint32(D.len + 4, Math.floor(size / 2 ** 32), true);
    view.setUint32(D.fd, 0, true);
    view.setUint32(D.fd_flags, fdFlags >>> 0, true);
    view.setUint32(D.heap_flags, heapFlags >>> 0, true);
    view.setUint32(D.heap_flags + 4, Math.floor(heapFlags / 2 ** 32), true);
    try {
      this.kernel.ioctl(this.fd, DMA_HEAP_IOCTL_ALLOC, this.#arg, "DMA_HEAP_IOCTL_ALLOC");
    } catch (e) {
      const err = e as ErrnoError;
      throw errnoError(err.errno, err.syscall, {
        path: this.path,
        detail: err.errno === Errno.ENOMEM
          ? `the ${this.name} heap could not provide ${size} bytes`
          : undefined,
        cause: e,
      });
    }
    return adoptDmaBuf(
      this.kernel,
      view.getInt32(D.fd, true),
      Math.ceil(size / page) * page,
      o.name,
    );
  }
}
