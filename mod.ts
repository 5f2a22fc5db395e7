/**
 * dma-buf for Deno: allocate DMA buffers from the kernel's dma-heaps, map them, keep CPU caches
 * coherent and share them zero-copy — on real Linux through libc FFI, or on a simulated kernel
 * written in TypeScript that runs anywhere (and needs no permissions).
 *
 * ```ts
 * import { openHeap } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using buf = heap.allocate(1 << 20, { name: "frame-0" });
 * using map = buf.map();
 * map.write((bytes) => bytes.fill(0x42));
 * assert.equal(buf.info().name, "frame-0");
 * ```
 *
 * Fences: `buf.exportSyncFile()` / `buf.importSyncFile()` ({@linkcode SyncFile}) and
 * `await buf.wait("read" | "write")` wait for drivers without blocking the thread. Pipelines of
 * driver stages (the seed's §2.6): {@linkcode openStage}, {@linkcode createBufferPool},
 * {@linkcode Pipeline} — buffers pass from driver to driver by fd, never copied.
 *
 * The kernel underneath is chosen on first use: Linux when `/dev/dma_heap` has a heap this
 * process can open (with `--allow-ffi --allow-read`), otherwise the simulated kernel.
 * `DMABUF_KERNEL=linux|simulated` or {@linkcode setKernel} override the choice, and
 * {@linkcode kernelSelection} says which one is in use and why.
 *
 * @module
 */
export * from "./src/errors.ts";
export type * from "./src/kernel/types.ts";
export {
  getKernel,
  type KernelSelection,
  kernelSelection,
  setKernel,
} from "./src/kernel/select.ts";
export {
  type AllocateOptions,
  DmaHeap,
  type HeapInfo,
  type HeapOptions,
  listHeaps,
  openHeap,
  UDEV_HINT,
} from "./src/heaps/heap.ts";
export { CONTIGUOUS_ALIASES, type HeapRole, heapRole, pickHeap } from "./src/heaps/roles.ts";
export { DmaBuf, type DmaBufFromOptions, type MapOptions } from "./src/dmabuf/buffer.ts";
export { type CpuAccess, DmaBufMapping } from "./src/dmabuf/mapping.ts";
export { type FenceAccess, SyncFile, type SyncFileFromOptions } from "./src/dmabuf/fence.ts";
export type { WaitOptions } from "./src/dmabuf/wait.ts";
export { type DmaBufInfo, parseFdinfo } from "./src/dmabuf/fdinfo.ts";
export { leakedCount } from "./src/dmabuf/_lifetime.ts";
export { type MemfdRange, openUdmabuf, Udmabuf, UDMABUF_PATH } from "./src/heaps/udmabuf.ts";
export { type Allocator, openAllocator, type OpenAllocatorOptions } from "./src/heaps/allocator.ts";
export {
  type DmaBufHandle,
  type FromHandleOptions,
  fromWorkerHandle,
  type Received,
  receiveDmaBuf,
  type ReceiveOptions,
  sendDmaBuf,
  SHARE_HEADER_SIZE,
  type SocketOptions,
  type SocketType,
  takeDmaBuf,
  type TakeOptions,
  toWorkerHandle,
  UnixListener,
  UnixSocket,
} from "./src/share/mod.ts";
export {
  BufferPool,
  type BufferPoolOptions,
  createBufferPool,
  openStage,
  Pipeline,
  type PipelineFrame,
  type PipelineRunOptions,
  type PipelineStage,
  type PipelineStageResult,
  type PipelineStats,
  type PoolAllocator,
  type PooledBuffer,
  Stage,
  type StageOp,
  type StageOptions,
  type StageReadiness,
  type StageResult,
} from "./src/pipeline/mod.ts";
export { FdResource } from "./src/fd_resource.ts";
