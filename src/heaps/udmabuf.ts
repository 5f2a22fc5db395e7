/**
 * udmabuf: dma-bufs made from memfd pages (`/dev/udmabuf`), for systems where the dma-heaps
 * are missing or closed to this user (systemd grants `uaccess` to `/dev/udmabuf`, not to
 * heaps). Buffers behave like heap buffers; `exp_name` is `"udmabuf"`.
 *
 * @module
 */
import type { Kernel, UserBuffer } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import { type ErrnoError, errnoError, intArg, optionsArg, typeArg } from "../errors.ts";
import { udmabufSizeLimit } from "./_limits.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import {
  F_ADD_SEALS,
  F_SEAL_SHRINK,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  O_CLOEXEC,
  O_RDWR,
} from "../uapi/constants.ts";
import {
  UDMABUF_CREATE,
  udmabuf_create as C,
  udmabuf_create_item as I,
  UDMABUF_CREATE_LIST,
  udmabuf_create_list as L,
  UDMABUF_FLAGS_CLOEXEC,
} from "../uapi/udmabuf.ts";
import { adoptDmaBuf, type DmaBuf } from "../dmabuf/buffer.ts";
import type { AllocateOptions, HeapOptions } from "./heap.ts";
import type { HeapRole } from "./roles.ts";

/** The udmabuf device node. */
export const UDMABUF_PATH = "/dev/udmabuf";

/** One range of a memfd for {@linkcode Udmabuf.createList}. */
export interface MemfdRange {
  /** A shmem memfd sealed with `F_SEAL_SHRINK` and not `F_SEAL_WRITE`. */
  memfd: number;
  /** Page-aligned offset in the memfd. */
  offset: number;
  /** Page-aligned length. */
  size: number;
}

function setU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v >>> 0, true);
  view.setUint32(at + 4, Math.floor(v / 2 ** 32), true);
}

// Every field is checked by name: a missing one would otherwise reach the ioctl as 0.
function checkRange(r: MemfdRange, syscall: string): void {
  if (typeof r !== "object" || r === null) {
    throw errnoError(Errno.EINVAL, syscall, {
      path: UDMABUF_PATH,
      detail: `a range must be an object { memfd, offset, size }, got ${String(r)}`,
    });
  }
  for (const k of ["memfd", "offset", "size"] as const) {
    const v: unknown = r[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw errnoError(Errno.EINVAL, syscall, {
        path: UDMABUF_PATH,
        detail: `${k} must be a non-negative safe integer, got ${String(v)}`,
      });
    }
  }
}

/**
 * Opens `/dev/udmabuf`.
 *
 * @param options The kernel.
 * @returns The device, ready to make buffers.
 * @throws {Deno.errors.NotFound} If the kernel has no udmabuf (`CONFIG_UDMABUF`).
 * @throws {Deno.errors.PermissionDenied} `EACCES`, with the udev rule that fixes it.
 *
 * @example A udmabuf behaves like a heap buffer
 * ```ts
 * import { openUdmabuf } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * using dev = openUdmabuf();
 * using buf = dev.allocate(10_000, { name: "sw-frame" });
 * assert.equal(buf.size, 12288);
 * assert.equal(buf.info().exporter, "udmabuf");
 * ```
 */
export function openUdmabuf(options?: HeapOptions): Udmabuf {
  const kernel = kernelOption(optionsArg("openUdmabuf", options).kernel, "openUdmabuf");
  let fd: number;
  try {
    fd = kernel.open(UDMABUF_PATH, O_RDWR | O_CLOEXEC);
  } catch (e) {
    const err = e as ErrnoError;
    if (err.errno === Errno.ENOENT) {
      throw errnoError(err.errno, "open", {
        path: UDMABUF_PATH,
        detail: "this kernel has no udmabuf device",
        hint: "It needs CONFIG_UDMABUF; where it is a module, load it with modprobe udmabuf",
        cause: e,
      });
    }
    if (err.errno === Errno.EACCES || err.errno === Errno.EPERM) {
      throw errnoError(err.errno, "open", {
        path: UDMABUF_PATH,
        hint: UDMABUF_UDEV_HINT,
        cause: e,
      });
    }
    throw e;
  }
  return new Udmabuf(kernel, fd);
}

/** The udev rule that lets a group use `/dev/udmabuf`. */
export const UDMABUF_UDEV_HINT =
  'Give your user access with a udev rule such as KERNEL=="udmabuf", GROUP="video", ' +
  'MODE="0660" (systemd\'s uaccess tag grants it to the seat user) and add the user to that ' +
  "group, or run as root";

/** Where the udmabuf module shows its size limit (`module_param(size_limit_mb, int, 0644)`). */
export const UDMABUF_SIZE_LIMIT_PATH = "/sys/module/udmabuf/parameters/size_limit_mb";

/**
 * Why `total` bytes exceed the udmabuf module's `size_limit_mb` (from sysfs, else the module's
 * default of 64), and how to raise it; `undefined` when they do not.
 */
function overSizeLimit(
  kernel: Kernel,
  total: number,
): { detail: string; hint: string } | undefined {
  const limit = udmabufSizeLimit(kernel);
  if (total <= limit.bytes) return undefined;
  return {
    detail: `${total} bytes is more than the udmabuf module's size_limit_mb of ` +
      `${limit.bytes / 2 ** 20} MiB${limit.known ? "" : " (the default)"}`,
    hint: `Raise it with the module parameter: echo <MiB> > ${UDMABUF_SIZE_LIMIT_PATH} ` +
      `as root, or udmabuf.size_limit_mb=<MiB> on the kernel command line (or ` +
      `modprobe udmabuf size_limit_mb=<MiB>); or allocate from a dma-heap`,
  };
}

// Up to this size no sysfs file is read (udmabuf's smallest default limit is 64 MiB).
const UDMABUF_CHECK_ABOVE = 16 << 20;

/**
 * An open `/dev/udmabuf`. `close()` closes the device fd; buffers stay valid.
 *
 * Like every fd owner of the library, a Udmabuf has `fd`, `kernel` and `closed`, an idempotent
 * `close()` and `[Symbol.dispose]` (`using`); its other methods throw `Deno.errors.BadResource`
 * once it is closed ("Cannot … a closed Udmabuf").
 */
export class Udmabuf extends FdResource {
  #arg: UserBuffer;
  /** `"udmabuf"`, so code that prints a heap name works for both. */
  readonly name: string = "udmabuf";
  /** `"system"`: like the system heap, scattered pages. */
  readonly role: HeapRole = "system";
  /** Always false: memfd pages are not physically contiguous. */
  readonly contiguous: boolean = false;
  /** The device node. */
  readonly path: string = UDMABUF_PATH;

  /**
   * Use {@linkcode openUdmabuf}.
   *
   * @param kernel The kernel.
   * @param fd The open device fd, now owned by this object.
   */
  constructor(kernel: Kernel, fd: number) {
    super(kernel, fd, "Udmabuf");
    this.#arg = kernel.userBuffer(C.size);
  }

  /**
   * Makes a zero-filled buffer: a sealed memfd of `size` rounded up to pages, turned into a
   * dma-buf with `UDMABUF_CREATE`. The memfd is closed; the buffer keeps its pages.
   *
   * @param size Bytes wanted: a safe integer > 0 (at most 64 MiB by default).
   * @param options `name` is honoured; `fdFlags` may only add nothing but `O_CLOEXEC`.
   * @returns The buffer.
   * @throws {ErrnoError} `EINVAL` beyond the module's `size_limit_mb` (the message names the
   * parameter, its value and how to raise it).
   */
  allocate(size: number, options?: Pick<AllocateOptions, "name">): DmaBuf {
    this.checkOpen("allocate from");
    const where = "Udmabuf.allocate";
    intArg(where, "size", size, 1);
    const o = optionsArg(where, options);
    if (o.name !== undefined) typeArg(where, "options.name", o.name, "string");
    const page = this.kernel.pageSize;
    const length = Math.ceil(size / page) * page;
    // Checked before making the memfd: the module refuses more than size_limit_mb (EINVAL).
    if (length > UDMABUF_CHECK_ABOVE) {
      const over = overSizeLimit(this.kernel, length);
      if (over) {
        throw errnoError(Errno.EINVAL, "ioctl(UDMABUF_CREATE)", {
          path: UDMABUF_PATH,
          detail: `${over.detail}; not attempted`,
          hint: over.hint,
        });
      }
    }
    const memfd = this.kernel.memfdCreate("dmabuf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    let buf: DmaBuf;
    try {
      this.kernel.ftruncate(memfd, length);
      this.kernel.fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK);
      buf = this.#create({ memfd, offset: 0, size: length }, o.name);
    } finally {
      this.kernel.close(memfd);
    }
    return buf;
  }

  /**
   * Turns a range of your own memfd into a dma-buf (`UDMABUF_CREATE`); its bytes stay shared
   * with the memfd.
   *
   * @param range The memfd and page-aligned offset and size.
   * @returns The buffer (close-on-exec).
   * @throws {ErrnoError} `EBADFD` if `memfd` is not a shmem memfd, `EINVAL` for unaligned
   * ranges, missing `F_SEAL_SHRINK` or a range past the memfd's end.
   */
  create(range: MemfdRange): DmaBuf {
    return this.#create(range, undefined);
  }

  #create(range: MemfdRange, name: string | undefined): DmaBuf {
    this.checkOpen("create from");
    checkRange(range, "ioctl(UDMABUF_CREATE)");
    const view = this.#arg.view;
    view.setUint32(C.memfd, range.memfd, true);
    view.setUint32(C.flags, UDMABUF_FLAGS_CLOEXEC, true);
    setU64(view, C.offset, range.offset);
    setU64(view, C.size_, range.size);
    const fd = this.#ioctl(UDMABUF_CREATE, this.#arg, "UDMABUF_CREATE", range.size);
    return adoptDmaBuf(this.kernel, fd, range.size, name);
  }

  /**
   * Concatenates ranges of one or more memfds into one dma-buf (`UDMABUF_CREATE_LIST`).
   *
   * @param ranges At most 1024 ranges (the module's `list_limit`).
   * @returns The buffer (close-on-exec).
   * @throws {ErrnoError} `EINVAL` (before any system call) when `ranges` is not an array or a
   * range is not an object with `memfd`, `offset` and `size` as non-negative safe integers.
   */
  createList(ranges: readonly MemfdRange[]): DmaBuf {
    this.checkOpen("create from");
    if (!Array.isArray(ranges)) {
      throw errnoError(Errno.EINVAL, "ioctl(UDMABUF_CREATE_LIST)", {
        path: UDMABUF_PATH,
        detail: `ranges must be an array of { memfd, offset, size }, got ${String(ranges)}`,
      });
    }
    const arg = this.kernel.userBuffer(L.size + I.size * ranges.length);
    arg.view.setUint32(L.flags, UDMABUF_FLAGS_CLOEXEC, true);
    arg.view.setUint32(L.count, ranges.length, true);
    let total = 0;
    ranges.forEach((r, i) => {
      checkRange(r, "ioctl(UDMABUF_CREATE_LIST)");
      const at = L.list + i * I.size;
      arg.view.setUint32(at + I.memfd, r.memfd, true);
      setU64(arg.view, at + I.offset, r.offset);
      setU64(arg.view, at + I.size_, r.size);
      total += r.size;
    });
    const fd = this.#ioctl(UDMABUF_CREATE_LIST, arg, "UDMABUF_CREATE_LIST", total);
    return adoptDmaBuf(this.kernel, fd, total);
  }

  #ioctl(request: number, arg: UserBuffer, name: string, total: number): number {
    try {
      return this.kernel.ioctl(this.fd, request, arg, name);
    } catch (e) {
      const err = e as ErrnoError;
      // udmabuf_create(): the pages of all items together must not exceed size_limit_mb.
      const over = err.errno === Errno.EINVAL ? overSizeLimit(this.kernel, total) : undefined;
      const { detail, hint } = over ?? {};
      throw errnoError(err.errno, err.syscall, { path: UDMABUF_PATH, detail, hint, cause: e });
    }
  }
}
