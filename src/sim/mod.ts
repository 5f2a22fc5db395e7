/**
 * The simulated kernel: a machine with RAM, CMA areas, the dma-buf core, the system and CMA
 * heaps, misc devices and a test importer driver, all in TypeScript. A process on it implements
 * the `Kernel` syscall boundary with the errno and text formats of Linux 6.12, and needs no Deno
 * permissions.
 *
 * @example Allocating from the simulated system heap
 * ```ts
 * import { simulatedKernel } from "@dmabuf/dmabuf/sim";
 * import assert from "node:assert/strict";
 *
 * const k = simulatedKernel();
 * assert.equal(k.kind, "simulated");
 * assert.ok(k.readDir("/dev/dma_heap").includes("system"));
 * ```
 *
 * @module
 */
import { SimMachine, type SimMachineConfig } from "./machine.ts";
import type { SimProcess } from "./process.ts";

export { DEFAULT_CMA, DEFAULT_COHERENCY, SimMachine } from "./machine.ts";
export type { CmaRegionConfig, SimMachineConfig } from "./machine.ts";
export { SimProcess } from "./process.ts";
export type { SimProcessOptions } from "./process.ts";
export { KernelBug } from "./bug.ts";
export { CoherencyViolation, CpuAccess, CpuCache, L1_CACHE_BYTES } from "./cache.ts";
export type {
  CacheIdent,
  CacheSegment,
  Coherency,
  CoherencyKind,
  CoherencyReport,
  CoherencySink,
  SanitizerMode,
} from "./cache.ts";
export type { KernelWarning, WarningKind } from "./bug.ts";

/**
 * Boots a new simulated machine.
 *
 * @param config Memory size, CMA areas, built-in drivers, strict mode.
 * @returns The machine; `machine.process()` gives a process implementing `Kernel`.
 */
export function createSimMachine(config?: SimMachineConfig): SimMachine {
  return new SimMachine(config);
}

let defaultMachine: SimMachine | undefined;

/**
 * The default machine's default process, made on first use (a singleton).
 *
 * @returns A process implementing `Kernel` with `kind: "simulated"`.
 */
export function simulatedKernel(): SimProcess {
  defaultMachine ??= new SimMachine();
  return defaultMachine.defaultProcess;
}

/** The machine behind {@linkcode simulatedKernel}, made on first use. */
export function defaultSimMachine(): SimMachine {
  defaultMachine ??= new SimMachine();
  return defaultMachine;
}

// The kernel objects a machine exposes, for drivers and tests written against the model.
export type { Task } from "./sched.ts";
export type { MachineContext } from "./context.ts";
export type { DriverContext } from "./driver_context.ts";
export type { dma_fence, dma_fence_func, dma_fence_ops, dma_resv_usage } from "./dma_fence.ts";
export type { dma_resv, dma_resv_entry } from "./dma_resv.ts";
export type { poll_table, wait_queue_func, wait_queue_head } from "./wait.ts";
export type { WarnSink } from "./bug.ts";
export { LogBuf, print_time } from "./printk.ts";
export type { LogRecord } from "./printk.ts";
export { BuddyZone, MemStore, PhysMap } from "./mm.ts";
export type { PhysExtent, PhysRange } from "./mm.ts";
export { Cma } from "./cma.ts";
export { VmallocArea } from "./vmalloc.ts";
export { Devtmpfs } from "./char_dev.ts";
export type { cdev } from "./char_dev.ts";
export { dma_buf, DmaBufSubsys, list_head } from "./dma_buf.ts";
export type {
  device,
  dma_buf_attachment,
  dma_buf_export_info,
  dma_buf_ops,
  iosys_map,
  scatterlist,
  sg_table,
} from "./dma_buf.ts";
export { DmaHeapSubsys } from "./dma_heap.ts";
export type { dma_heap, dma_heap_export_info, dma_heap_ops } from "./dma_heap.ts";
export { misc_register, MiscSubsys } from "./miscdevice.ts";
export type { misc_fops, miscdevice } from "./miscdevice.ts";
export { TestDriver } from "./drivers/test_driver.ts";
export type { TestDriverContext, TestDriverOptions } from "./drivers/test_driver.ts";
export { file } from "./file_table.ts";
export type { file_operations, inode, InodeKind } from "./file_table.ts";
export { mm_struct } from "./mmap.ts";
export type { UserMemory, vm_area_struct } from "./mmap.ts";
export { files_struct } from "./file.ts";
