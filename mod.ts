/**
 * dma-buf for Deno: allocate DMA buffers from the kernel's dma-heaps, map them, keep CPU caches
 * coherent and share them zero-copy — on real Linux through libc FFI, or on a simulated kernel
 * written in TypeScript that runs anywhere (and needs no permissions).
 *
 * This entry holds what a device script needs: heaps ({@linkcode openHeap}), buffers
 * ({@linkcode DmaBuf}), mappings ({@linkcode DmaBufMapping}), fences ({@linkcode SyncFile}),
 * udmabuf ({@linkcode openUdmabuf}), the allocator ({@linkcode openAllocator}), the error types,
 * and the kernel choice ({@linkcode kernelSelection}, {@linkcode setKernel}). The rest lives
 * behind named entries: `@dmabuf/dmabuf/share` (sockets, `pidfd_getfd`, Workers),
 * `@dmabuf/dmabuf/pipeline` (driver stages and buffer pools), `@dmabuf/dmabuf/accounting`
 * (`dmabuf_dump`), `@dmabuf/dmabuf/kernel` (the syscall seam, for writing a kernel),
 * `@dmabuf/dmabuf/sim` (the simulated kernel), `@dmabuf/dmabuf/uapi` (constants and structs)
 * and `@dmabuf/dmabuf/cli`.
 *
 * @example Allocate, name and fill a buffer
 * ```ts
 * import { openHeap } from "@dmabuf/dmabuf";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using buf = heap.allocate(1 << 20, { name: "frame-0" });
 * using map = buf.map();
 * map.write((bytes) => bytes.fill(0x42));
 * assert.equal(buf.info().name, "frame-0");
 * ```
 *
 * Fences: `buf.exportSyncFile()` / `buf.importSyncFile()` ({@linkcode SyncFile}, with `merge()`
 * and `info()`) and
 * `await buf.wait("read" | "write")` wait for drivers without blocking the thread.
 *
 * The kernel underneath is chosen on first use and never simulated on a machine with dma-buf
 * devices: Linux whenever `/dev/dma_heap/*` or `/dev/udmabuf` exists (openable or not), the
 * simulated kernel only when there is none or off Linux; on Linux without `--allow-ffi` the first
 * call throws `Deno.errors.NotCapable` naming the flag. `DMABUF_KERNEL=linux|simulated` or
 * {@linkcode setKernel} override the choice, and {@linkcode kernelSelection} says which one is
 * in use and why.
 *
 * @module
 */
export {
  BadResourceError,
  BusyError,
  type ErrnoDetails,
  ErrnoError,
  type ErrnoErrorClass,
  type ErrnoErrorOptions,
  InterruptedError,
  NotFoundError,
  PermissionDeniedError,
  TimedOutError,
} from "./src/errors.ts";
export { type KernelSelection, kernelSelection, setKernel } from "./src/kernel/select.ts";
export {
  type AllocateOptions,
  DmaHeap,
  type HeapInfo,
  type HeapOptions,
  listHeaps,
  openHeap,
} from "./src/heaps/heap.ts";
export type { HeapRole } from "./src/heaps/roles.ts";
export { DmaBuf, type DmaBufFromOptions, type MapOptions } from "./src/dmabuf/buffer.ts";
export { type CpuAccess, type CpuAccessOptions, DmaBufMapping } from "./src/dmabuf/mapping.ts";
export {
  type FenceAccess,
  type SyncFenceInfo,
  SyncFile,
  type SyncFileFromOptions,
  type SyncFileInfo,
} from "./src/dmabuf/fence.ts";
export type { WaitOptions } from "./src/dmabuf/wait.ts";
export type { DmaBufInfo } from "./src/dmabuf/fdinfo.ts";
export { leakedCount, type LeakReport, setLeakWarnings } from "./src/dmabuf/_lifetime.ts";
export { type MemfdRange, openUdmabuf, Udmabuf } from "./src/heaps/udmabuf.ts";
export { type Allocator, openAllocator, type OpenAllocatorOptions } from "./src/heaps/allocator.ts";
