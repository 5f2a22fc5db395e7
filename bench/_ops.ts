/**
 * The benchmarked operations, defined once and used by the `Deno.bench` files and by
 * `ratios.ts`. Each operation exists at three levels:
 *
 * - `raw`    libc through FFI, no library code (`_raw_ops.ts`; Linux only);
 * - `kernel` the syscall boundary (`Kernel` of `src/kernel/types.ts`): LinuxKernel or a simulated
 *            process — what the library calls underneath;
 * - `lib`    the public API (`openHeap`, `allocate`, `map`, `write`, `setName`, `info`).
 *
 * Every level gets the same advantages: one long-lived struct per ioctl and its pointer, the
 * buffer used by map/sync/fill/setname/info allocated once per size.
 *
 * @module
 */
import type { Kernel, MappedRegion } from "../src/kernel/types.ts";
import { openHeap } from "../src/heaps/heap.ts";
import {
  MAP_SHARED,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from "../src/uapi/constants.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
} from "../src/uapi/dma_buf.ts";
import { DMA_HEAP_IOCTL_ALLOC } from "../src/uapi/dma_heap.ts";

/** The operations, in table order. */
export const OPS = ["alloc", "map", "sync", "fill", "setname", "info"] as const;
/** One operation. */
export type Op = typeof OPS[number];

/** What each operation does, for table headers. */
export const OP_LABELS: Record<Op, string> = {
  alloc: "allocate+close",
  map: "map+unmap",
  sync: "SYNC START+END",
  fill: "write(fill)",
  setname: "setName",
  info: "info()",
};

/** The sizes of the style guide (rule 9). */
export const SIZES = [4096, 65536, 1 << 20, 16 << 20] as const;

/** `4 KiB`, `64 KiB`, `1 MiB`, `16 MiB`. */
export function sizeLabel(size: number): string {
  return size >= 1 << 20 ? `${size / (1 << 20)} MiB` : `${size / 1024} KiB`;
}

/** The default heap. */
export const HEAP = "system";
/** Its device node. */
export const HEAP_PATH = `/dev/dma_heap/${HEAP}`;
/** The name every set-name benchmark gives. */
export const NAME = "bench";

/** The operations of one level at one size, and how to release what they hold. */
export interface OpSet {
  /** One call of each operation. */
  readonly run: Record<Op, () => void>;
  /** Closes the long-lived buffer, mapping and heap. */
  close(): void;
}

/**
 * The operations through a `Kernel` directly (no library code above the seam).
 *
 * @param k The kernel (LinuxKernel or a simulated process).
 * @param size The buffer size.
 */
export function kernelOps(k: Kernel, size: number): OpSet {
  const heapFd = k.open(HEAP_PATH, O_RDONLY | O_CLOEXEC);
  const alloc = k.userBuffer(24); // struct dma_heap_allocation_data
  const allocate = (): number => {
    alloc.view.setUint32(0, size, true); // len (low half; sizes here are < 4 GiB)
    alloc.view.setUint32(8, 0, true); // fd: the kernel wants 0 in
    alloc.view.setUint32(12, O_RDWR | O_CLOEXEC, true); // fd_flags
    k.ioctl(heapFd, DMA_HEAP_IOCTL_ALLOC, alloc, "DMA_HEAP_IOCTL_ALLOC");
    return alloc.view.getInt32(8, true); // fd
  };
  const fd = allocate();
  const sync = k.userBuffer(8);
  const syncIoctl = (flags: number) => {
    sync.view.setUint32(0, flags, true);
    k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync, "DMA_BUF_IOCTL_SYNC");
  };
  const name = k.userBuffer(NAME.length + 1);
  new TextEncoder().encodeInto(NAME, name.bytes);
  const region: MappedRegion = k.mmap(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  let view = new Uint8Array(region.buffer, region.byteOffset, region.length);
  let v = 0;
  const fdinfo = `/proc/self/fdinfo/${fd}`;
  return {
    run: {
      alloc: () => k.close(allocate()),
      map: () => k.munmap(k.mmap(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0)),
      sync: () => {
        syncIoctl(DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
        syncIoctl(DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
      },
      fill: () => {
        // The simulated kernel may move a mapping's bytes to a new ArrayBuffer (see its README).
        if (view.byteLength === 0) view = new Uint8Array(region.buffer, region.byteOffset, size);
        syncIoctl(DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
        view.fill(++v & 0xff);
        syncIoctl(DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
      },
      setname: () => void k.ioctl(fd, DMA_BUF_SET_NAME_B, name, "DMA_BUF_SET_NAME_B"),
      info: () => {
        const text = k.readText(fdinfo);
        const at = text.indexOf("\nsize:");
        if (at < 0 || Number.parseInt(text.slice(at + 6), 10) !== size) throw new Error("size?");
      },
    },
    close() {
      k.munmap(region);
      k.close(fd);
      k.close(heapFd);
    },
  };
}

/**
 * The operations through the public API.
 *
 * @param kernel The kernel to give `openHeap`.
 * @param size The buffer size.
 */
export function libraryOps(kernel: Kernel, size: number): OpSet {
  const heap = openHeap(HEAP, { kernel });
  const buf = heap.allocate(size);
  const map = buf.map();
  let v = 0;
  const fill = (b: Uint8Array) => b.fill(++v & 0xff);
  return {
    run: {
      alloc: () => heap.allocate(size).close(),
      map: () => buf.map().unmap(),
      sync: () => {
        buf.beginCpuAccess("readwrite");
        buf.endCpuAccess("readwrite");
      },
      fill: () => void map.write(fill),
      setname: () => buf.setName(NAME),
      info: () => {
        if (buf.info().size !== size) throw new Error("size?");
      },
    },
    close() {
      map.unmap();
      buf.close();
      heap.close();
    },
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Runs `fn` in doubling batches (capped at 1024) until `budgetMs` is spent, after a warm-up of
 * a quarter of the budget — the same loop as `bench/c/dmabuf_bench.c`. Collects garbage first
 * when `gc()` is exposed.
 *
 * @returns Nanoseconds per call and the number of timed calls.
 */
export function measure(fn: () => void, budgetMs: number): { ns: number; iters: number } {
  // Start from a collected heap (with --v8-flags=--expose-gc), so one operation's garbage is
  // not collected on the next one's clock.
  gc?.();
  let t0 = performance.now();
  do fn(); while (performance.now() - t0 < budgetMs / 4);
  let iters = 0;
  let batch = 1;
  let t: number;
  t0 = performance.now();
  for (;;) {
    for (let i = 0; i < batch; i++) fn();
    iters += batch;
    t = performance.now() - t0;
    if (t >= budgetMs) break;
    if (batch < 1024) batch *= 2;
  }
  return { ns: (t * 1e6) / iters, iters };
}

/** The median of `xs`, NaNs left out (NaN when nothing is left). */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b); // NaN: a failed run
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
