/**
 * drivers/dma-buf/dma-heap.c: heap registration (`dma_heap_add`) creating
 * `/dev/dma_heap/<name>`, and `dma_heap_ioctl` — dispatch on `_IOC_NR` only, argument sizes from
 * the user's command, short structs zero-filled, the allocate checks in the kernel's order.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import type { file, file_operations } from "./file_table.ts";
import type { Task } from "./sched.ts";
import { copy_from_user_into, copy_to_user } from "./uaccess.ts";
import { type Devtmpfs, nonseekable_open } from "./char_dev.ts";
import { type dma_buf, dma_buf_fd } from "./dma_buf.ts";
import { _IOC_NR, _IOC_SIZE, IOC_IN, IOC_OUT } from "../uapi/ioctl.ts";
import {
  dma_heap_allocation_data,
  DMA_HEAP_IOCTL_ALLOC,
  DMA_HEAP_VALID_FD_FLAGS,
  DMA_HEAP_VALID_HEAP_FLAGS,
  NUM_HEAP_MINORS,
} from "../uapi/dma_heap.ts";
import { PAGE_SIZE } from "./mm.ts";

/** `struct dma_heap_ops`. */
export interface dma_heap_ops {
  /**
   * Allocates a buffer of `len` bytes (page aligned, non-zero).
   *
   * @throws {KernelError} ENOMEM, EINTR.
   */
  allocate(heap: dma_heap, len: number, fd_flags: number, heap_flags: number): dma_buf;
}

/** `struct dma_heap_export_info`. */
export interface dma_heap_export_info {
  /** Heap name: the node is `/dev/dma_heap/<name>`. */
  name: string;
  /** The heap's operations. */
  ops: dma_heap_ops;
  /** The heap's private data. */
  priv: unknown;
}

/** `struct dma_heap`. */
export interface dma_heap {
  /** Heap name. */
  readonly name: string;
  /** Operations. */
  readonly ops: dma_heap_ops;
  /** Private data (`dma_heap_get_drvdata`). */
  readonly priv: unknown;
  /** Minor number. */
  readonly minor: number;
}

/** The dma-heap framework's state on one machine (`heap_list`, `dma_heap_minors`). */
export class DmaHeapSubsys {
  /** Registered heaps by name. */
  readonly heap_list: Map<string, dma_heap> = new Map();
  readonly #minors = new Set<number>();
  readonly #dev: Devtmpfs;

  /**
   * The framework with no heaps.
   *
   * @param dev The machine's `/dev`.
   */
  constructor(dev: Devtmpfs) {
    this.#dev = dev;
  }

  /**
   * `dma_heap_add(exp_info)`.
   *
   * @throws {KernelError} EINVAL for an empty or duplicate name, ENOSPC past 128 heaps.
   */
  dma_heap_add(info: dma_heap_export_info): dma_heap {
    if (!info.name || info.name.length === 0) {
      fail(Errno.EINVAL, "dma_heap: Cannot add heap without a name");
    }
    if (this.heap_list.has(info.name)) {
      fail(Errno.EINVAL, `dma_heap: Already registered heap named ${info.name}`);
    }
    let minor = 0;
    while (this.#minors.has(minor)) minor++;
    if (minor >= NUM_HEAP_MINORS) {
      fail(Errno.ENOSPC, "dma_heap: Unable to get minor number for heap");
    }
    const heap: dma_heap = { name: info.name, ops: info.ops, priv: info.priv, minor };
    this.#dev.add(`dma_heap/${info.name}`, dma_heap_fops, heap);
    this.#minors.add(minor);
    this.heap_list.set(info.name, heap);
    return heap;
  }
}

/** `dma_heap_open()`: the heap comes from the node; the file cannot seek. */
function dma_heap_open(_inode: unknown, f: file): void {
  nonseekable_open(f);
}

/**
 * `dma_heap_buffer_alloc()` + `dma_heap_ioctl_allocate()`: checks in the kernel's order, then the
 * heap's allocate, then an fd in `current`.
 */
function dma_heap_ioctl_allocate(heap: dma_heap, kdata: DataView, current: Task): void {
  const o = dma_heap_allocation_data;
  const len_lo = kdata.getUint32(o.len, true), len_hi = kdata.getUint32(o.len + 4, true);
  const fd = kdata.getUint32(o.fd, true);
  const fd_flags = kdata.getUint32(o.fd_flags, true);
  const hf_lo = kdata.getUint32(o.heap_flags, true),
    hf_hi = kdata.getUint32(o.heap_flags + 4, true);
  if (fd !== 0) fail(Errno.EINVAL);
  if (fd_flags & ~DMA_HEAP_VALID_FD_FLAGS) fail(Errno.EINVAL);
  if ((hf_lo & ~DMA_HEAP_VALID_HEAP_FLAGS) || hf_hi) fail(Errno.EINVAL);
  // PAGE_ALIGN(len) wraps to 0 for len 0 and for len > 2^64 - PAGE_SIZE.
  const len = len_hi * 2 ** 32 + len_lo;
  if (len === 0 || (len_hi === 0xffffffff && len_lo > 0xffffffff - PAGE_SIZE + 1)) {
    fail(Errno.EINVAL);
  }
  const aligned = Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  // Anything past 2^53 is far beyond any memory: the heap says ENOMEM, as it would.
  const dmabuf = heap.ops.allocate(
    heap,
    Number.isSafeInteger(aligned) ? aligned : 2 ** 53,
    fd_flags,
    0,
  );
  const newfd = dma_buf_fd(current, dmabuf, fd_flags);
  kdata.setUint32(o.fd, newfd, true);
}

/** `stack_kdata[128]` of `dma_heap_ioctl` (the model runs one syscall at a time). */
const stack_kbuf = new Uint8Array(128);
const stack_kdata = new DataView(stack_kbuf.buffer);

/** `dma_heap_ioctl(file, ucmd, arg)`. */
function dma_heap_ioctl(f: file, ucmd: number, arg: number, current: Task): number {
  const heap = f.private_data as dma_heap;
  const nr = _IOC_NR(ucmd);
  if (nr >= 1) fail(Errno.EINVAL);
  const kcmd = DMA_HEAP_IOCTL_ALLOC;
  const drv_size = _IOC_SIZE(kcmd);
  let out_size = _IOC_SIZE(ucmd);
  let in_size = out_size;
  if (!((ucmd & kcmd & IOC_IN) >>> 0)) in_size = 0;
  if (!((ucmd & kcmd & IOC_OUT) >>> 0)) out_size = 0;
  const ksize = Math.max(drv_size, in_size, out_size);
  // `stack_kdata[128]` for small commands, kmalloc beyond; zero-filled past in_size.
  let kbuf = stack_kbuf, kdata = stack_kdata;
  if (ksize <= stack_kbuf.length) kbuf.fill(0, 0, ksize);
  else kdata = new DataView((kbuf = new Uint8Array(ksize)).buffer);
  copy_from_user_into(current, kbuf, arg, in_size);
  dma_heap_ioctl_allocate(heap, kdata, current);
  if (out_size > 0) {
    try {
      copy_to_user(current, arg, kbuf, out_size);
    } catch (e) {
      // 6.12: the fd is installed only after copy_to_user succeeds; undo it.
      const fd = kdata.getUint32(dma_heap_allocation_data.fd, true);
      current.files.close_fd(fd);
      throw e;
    }
  }
  return 0;
}

/** `dma_heap_fops`. */
export const dma_heap_fops: file_operations = {
  open: dma_heap_open,
  unlocked_ioctl: dma_heap_ioctl,
};
