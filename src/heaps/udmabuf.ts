/**
 * udmabuf: dma-bufs made from memfd pages (`/dev/udmabuf`), for systems where the dma-heaps
 * are missing or closed to this user (systemd grants `uaccess` to `/dev/udmabuf`, not to
 * heaps). Buffers behave like heap buffers; `exp_name` is `"udmabuf"`.
 *
 * @module
 */
import type { Kernel, UserBuffer } from "../kernel/types.ts";
import { getKernel } from "../kernel/select.ts";
import { type ErrnoError, errnoError } from "../errors.ts";
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

function checkRange(r: MemfdRange, syscall: string): void {
  for (const [k, v] of Object.entries(r)) {
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
export function openUdmabuf(options: HeapOptions = {}): Udmabuf {
  const kernel = options.kernel ?? getKernel();
  const fd = kernel.open(UDMABUF_PATH, O_RDWR | O_CLOEXEC);
  return new Udmabuf(kernel, fd);
}

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
   * @throws {ErrnoError} `EINVAL` beyond the module's `size_limit_mb`.
   */
  allocate(size: number, options: Pick<AllocateOptions, "name"> = {}): DmaBuf {
    this.checkOpen("allocate from");
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
      throw errnoError(Errno.EINVAL, "ioctl(UDMABUF_CREATE)", {
        path: UDMABUF_PATH,
        detail: `size must be a safe integer > 0, got ${String(size)}`,
      });
    }
    const page = this.kernel.pageSize;
    const length = Math.ceil(size / page) * page;
    const memfd = this.kernel.memfdCreate("dmabuf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    let buf: DmaBuf;
    try {
      this.kernel.ftruncate(memfd, length);
      this.kernel.fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK);
      buf = this.#create({ memfd, offset: 0, size: length }, options.name);
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
    const fd = this.#ioctl(UDMABUF_CREATE, this.#arg, "UDMABUF_CREATE");
    return adoptDmaBuf(this.kernel, fd, range.size, name);
  }

  /**
   * Concatenates ranges of one or more memfds into one dma-buf (`UDMABUF_CREATE_LIST`).
   *
   * @param ranges At most 1024 ranges (the module's `list_limit`).
   * @returns The buffer (close-on-exec).
   */
  createList(ranges: readonly MemfdRange[]): DmaBuf {
    this.checkOpen("create from");
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
    const fd = this.#ioctl(UDMABUF_CREATE_LIST, arg, "UDMABUF_CREATE_LIST");
    return adoptDmaBuf(this.kernel, fd, total);
  }

  #ioctl(request: number, arg: UserBuffer, name: string): number {
    try {
      return this.kernel.ioctl(this.fd, request, arg, name);
    } catch (e) {
      const err = e as ErrnoError;
      throw errnoError(err.errno, err.syscall, { path: UDMABUF_PATH, cause: e });
    }
  }
}
