/** Every conformance case, and the runner used by the per-kernel test files. */
import { heapCases } from "./heap_cases.ts";
import { bufferCases } from "./buffer_cases.ts";
import { mappingCases } from "./mapping_cases.ts";
import { udmabufCases } from "./udmabuf_cases.ts";
import { boardCases, SEED_CMA_HEAP } from "./board_cases.ts";
import { drmCases } from "./drm_cases.ts";
import { openDrmDevice } from "../../src/drm/mod.ts";
import { syncFileCases } from "./sync_file_cases.ts";
import { kernelCases } from "./kernel_cases.ts";
import { SW_SYNC_PATH } from "../../src/uapi/sync_file.ts";
import { v4l2Cases } from "./v4l2_cases.ts";
import { findVideoDevice } from "../../src/v4l2/mod.ts";
import { type ConformanceCase, type Observations, openFds } from "./harness.ts";
import { unusable } from "../_helpers.ts";
import type { Kernel } from "../../src/kernel/types.ts";
import { listHeaps } from "../../mod.ts";
import assert from "node:assert/strict";

export type { ConformanceCase, Observations };

/** All cases, in a stable order. */
export const cases: ConformanceCase[] = [
  ...heapCases,
  ...bufferCases,
  ...mappingCases,
  ...udmabufCases,
  ...drmCases,
  ...syncFileCases,
  ...kernelCases,
  ...v4l2Cases,
  ...boardCases,
];

/** Why a case cannot run on this kernel, or undefined when it can. */
export function missing(k: Kernel, c: ConformanceCase): string | undefined {
  if (c.needs === "contiguous") {
    return listHeaps({ kernel: k }).some((h) => h.role === "contiguous" && h.accessible)
      ? undefined
      : "no accessible contiguous (CMA) heap";
  }
  if (c.needs === "seedBoard") {
    for (const dev of [`/dev/dma_heap/${SEED_CMA_HEAP}`, "/dev/driverA"]) {
      try {
        k.close(k.open(dev, 2 | 0o2000000));
      } catch {
        return `not the seed's board (no usable ${dev})`;
      }
    }
    return undefined;
  }
  if (c.needs === "udmabuf") return unusable(k, "/dev/udmabuf");
  if (c.needs === "vgem") {
    try {
      openDrmDevice({ driver: "vgem", kernel: k }).close();
      return undefined;
    } catch {
      return "no vgem DRM device (modprobe vgem)";
    }
  }
  if (c.needs === "sw_sync") return unusable(k, SW_SYNC_PATH);
  if (c.needs === "vivid") {
    try {
      findVideoDevice({ driver: "vivid", kernel: k }).close();
      return undefined;
    } catch {
      return "no vivid video node (modprobe vivid)";
    }
  }
  return undefined;
}

/**
 * Registers one Deno.test per case against `kernelFor()`, checking that no fd leaks, and
 * records observations into `results` (keyed by case name).
 */
export function registerConformance(
  label: string,
  kernelFor: () => Kernel,
  results: Record<string, Observations | { skipped: string }>,
): void {
  for (const c of cases) {
    const why = missing(kernelFor(), c);
    if (why) {
      results[c.name] = { skipped: why };
      Deno.test({ name: `[${label}] ${c.name} (needs: ${why})`, ignore: true, fn() {} });
      continue;
    }
    Deno.test(`[${label}] ${c.name}`, async (t) => {
      const k = kernelFor();
      const before = openFds(k);
      const obs: Observations = {};
      await c.run(k, obs);
      results[c.name] = obs;
      assert.deepEqual(openFds(k), before, `${t.name} leaked fds`);
    });
  }
}
