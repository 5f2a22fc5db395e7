/**
 * The conformance harness: cases written once against the public API and the syscall boundary,
 * run on every kernel. Each case asserts what Linux does and records what it observed, so the
 * simulated kernel can be held against the real one (see `compare.ts`).
 */
import type { Kernel } from "../../src/kernel/types.ts";

/** What a case records: JSON values under stable keys. */
export type Observations = Record<string, unknown>;

/** One conformance case. */
export interface ConformanceCase {
  /** `<subject> <criteria>`, e.g. "DmaHeap.allocate() rounds the size up to a page". */
  name: string;
  /**
   * A heap role or device the case needs; without it the case is skipped, with the reason.
   * `seedBoard`: the seed's board — `/dev/dma_heap/global_cma@68000000` and `/dev/driverA`.
   */
  needs?: "contiguous" | "udmabuf" | "vgem" | "sw_sync" | "vivid" | "seedBoard";
  /** Runs the case; asserts and records into `obs`. */
  run(k: Kernel, obs: Observations): void | Promise<void>;
}

export { errnoOf, openFds } from "../_helpers.ts";
