/**
 * Zero-copy driver pipelines: stages on devices that implement the queue ABI
 * of `src/uapi/queue_driver.ts`, a fixed pool of dma-bufs, and a runner that passes each buffer
 * from stage to stage by fd — the drivers reach the same physical pages, no byte is copied.
 *
 * @example One buffer through one stage
 * ```ts
 * import { openHeap } from "@dmabuf/dmabuf";
 * import { openStage } from "@dmabuf/dmabuf/pipeline";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using buf = heap.allocate(4096);
 * using stage = openStage("/dev/driverB", { op: "increment" });
 * stage.queue(buf, 7);
 * await stage.wait("readable", { timeout: 5000 });
 * assert.equal(stage.dequeue()?.checksum, 4096);
 * ```
 *
 * @module
 */
export {
  openStage,
  type PipelineStage,
  type PipelineStageResult,
  Stage,
  type StageOp,
  type StageOptions,
  type StageReadiness,
  type StageResult,
} from "./stage.ts";
export {
  BufferPool,
  type BufferPoolOptions,
  createBufferPool,
  type PoolAllocator,
  type PooledBuffer,
} from "./pool.ts";
export {
  Pipeline,
  type PipelineFrame,
  type PipelineRunOptions,
  type PipelineStats,
} from "./runner.ts";
