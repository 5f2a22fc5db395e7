/**
 * The simulated kernel: a machine with RAM, CMA areas, the dma-buf core, the system and CMA
 * heaps, misc devices and the seed's test driver, all in TypeScript. A process on it implements
 * the `Kernel` syscall boundary with the errno and text formats of Linux 6.12, and needs no Deno
 * permissions.
 *
 * @example Allocating from the simulated system heap
 * ```ts
 * import { simulatedKernel } from "./mod.ts";
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

export { DEFAULT_CMA, SimMachine } from "./machine.ts";
export type { CmaRegionConfig, SimMachineConfig } from "./machine.ts";
export { SimProcess } from "./process.ts";
export { KernelBug } from "./bug.ts";
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
