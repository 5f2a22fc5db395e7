/**
 * What recording allocation stacks for leak reports (DMABUF_DEBUG_LEAKS=1) costs on the allocate
 * path: allocate+close of 4 KiB on the simulated kernel and, when this machine has a readable
 * system heap (run with --allow-ffi on a device or in the guest), on Linux — each with stacks off
 * (the default) and on. The capture alone (`new Error().stack`) is measured too.
 *
 *   deno bench --allow-ffi --allow-read --allow-env bench/leak_bench.ts
 */
import { createSimMachine } from "../src/sim/mod.ts";
import { openHeap } from "../src/heaps/heap.ts";
import { leakStacks } from "../src/dmabuf/_lifetime.ts";
import { linuxKernel } from "../src/kernel/linux.ts";
import type { DmaHeap } from "../src/heaps/heap.ts";

const heaps: DmaHeap[] = [];
const sim = openHeap("system", { kernel: createSimMachine().process() });
heaps.push(sim);

let linux: DmaHeap | undefined;
let why = "";
try {
  linux = openHeap("system", { kernel: linuxKernel() });
  heaps.push(linux);
} catch (e) {
  why = (e as Error).message;
}

function bench(name: string, group: string, heap: DmaHeap | undefined, stacks: boolean) {
  Deno.bench({
    name,
    group,
    baseline: !stacks,
    ignore: heap === undefined,
    fn(b) {
      leakStacks(stacks);
      b.start();
      heap!.allocate(4096).close();
      b.end();
      leakStacks(false);
    },
  });
}

Deno.bench({
  name: "new Error().stack (the capture alone)",
  group: "capture",
  fn: () => void new Error("allocated here").stack,
});
bench("sim allocate+close 4 KiB, stacks off", "sim", sim, false);
bench("sim allocate+close 4 KiB, DMABUF_DEBUG_LEAKS=1", "sim", sim, true);
bench("linux allocate+close 4 KiB, stacks off", "linux", linux, false);
bench("linux allocate+close 4 KiB, DMABUF_DEBUG_LEAKS=1", "linux", linux, true);
if (linux === undefined) console.log(`leak_bench: no Linux system heap: ${why}`);

globalThis.addEventListener("unload", () => heaps.forEach((h) => h.close()));
