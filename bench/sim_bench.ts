/**
 * The same groups as `linux_bench.ts` on the simulated kernel (no permissions needed): the
 * `Kernel` seam of a simulated process is the baseline, the public API given that process as
 * `{ kernel }` is compared with it. Then the scaling groups: allocate+close with 10, 1 000 and
 * 100 000 buffers alive must cost the same (no linear scans in the model).
 *
 *   deno bench bench/sim_bench.ts
 */
import { createSimMachine } from "../src/sim/mod.ts";
import { openHeap } from "../src/heaps/heap.ts";
import type { DmaBuf } from "../src/dmabuf/buffer.ts";
import { kernelOps, libraryOps, OP_LABELS, OPS, type OpSet, sizeLabel, SIZES } from "./_ops.ts";

const open: OpSet[] = [];
for (const size of SIZES) {
  // One machine per size and level, so one level's buffers never crowd the other's.
  const levels: [string, OpSet][] = [
    ["Kernel", kernelOps(createSimMachine().process(), size)],
    ["library", libraryOps(createSimMachine().process(), size)],
  ];
  open.push(...levels.map(([, s]) => s));
  for (const op of OPS) {
    const group = `sim ${op} ${sizeLabel(size)}`;
    levels.forEach(([level, set], i) => {
      const name = `sim ${level} ${OP_LABELS[op]} ${sizeLabel(size)}`;
      Deno.bench({ name, group, baseline: i === 0, fn: set.run[op] });
    });
  }
}

/** Live-buffer counts of the scaling groups. */
export const LIVE = [10, 1_000, 100_000] as const;

const held: DmaBuf[] = [];
for (const size of [4096, 1 << 20]) {
  for (const [i, live] of LIVE.entries()) {
    // 100 000 × 1 MiB would exceed the machine's RAM: memory is the model's, as on Linux.
    const machine = createSimMachine({ memorySize: 4 * 1024 ** 3 });
    const kernel = machine.process();
    const heap = openHeap("system", { kernel });
    const n = size * live > 2 * 1024 ** 3 ? Math.floor(2 * 1024 ** 3 / size) : live;
    for (let j = 0; j < n; j++) held.push(heap.allocate(size));
    Deno.bench({
      name: `sim library allocate+close ${sizeLabel(size)}, ${n} alive`,
      group: `sim scaling ${sizeLabel(size)}`,
      baseline: i === 0,
      fn: () => heap.allocate(size).close(),
    });
  }
}

globalThis.addEventListener("unload", () => {
  open.forEach((s) => s.close());
  held.forEach((b) => b.close());
});
