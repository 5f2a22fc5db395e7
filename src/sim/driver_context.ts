/**
 * What a driver's init function receives: the {@linkcode MachineContext} plus the subsystems a
 * driver registers with or exports through (the dma-buf core, the dma-heap framework, misc
 * devices). Implemented by `SimMachine`.
 *
 * @module
 */
import type { MachineContext } from "./context.ts";
import type { DmaBufSubsys } from "./dma_buf.ts";
import type { DmaHeapSubsys } from "./dma_heap.ts";
import type { MiscSubsys } from "./miscdevice.ts";

/** The machine as a driver's init function sees it. */
export interface DriverContext extends MachineContext {
  /** The dma-buf core. */
  readonly dma_buf: DmaBufSubsys;
  /** The dma-heap framework. */
  readonly dma_heap: DmaHeapSubsys;
  /** Misc devices. */
  readonly misc: MiscSubsys;
}
