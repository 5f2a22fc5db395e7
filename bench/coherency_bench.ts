/**
 * Cost of the non-coherent CPU model (`src/sim/cache.ts`): a 1 MiB write through the mapping
 * between SYNC START(WRITE) and END(WRITE) (`map.write`), on a coherent machine (the baseline),
 * a non-coherent one with the sanitizer off, and one with it reporting (the default there).
 * Target: the non-coherent write+sync within 3× of the coherent one.
 *
 *   deno bench bench/coherency_bench.ts
 */
import { createSimMachine, type SanitizerMode } from "../src/sim/mod.ts";
import { openHeap } from "../src/heaps/heap.ts";

const MiB = 1 << 20;
const boards: [string, "coherent" | "non-coherent", SanitizerMode][] = [
  ["coherent", "coherent", "off"],
  ["non-coherent, sanitizer off", "non-coherent", "off"],
  ["non-coherent, sanitizer report", "non-coherent", "report"],
];

for (const [i, [label, coherency, sanitizer]] of boards.entries()) {
  const kernel = createSimMachine({ coherency, sanitizer }).process();
  const heap = openHeap("system", { kernel });
  const buf = heap.allocate(MiB);
  const map = buf.map();
  let v = 0;
  Deno.bench({
    name: `1 MiB write+sync, ${label}`,
    group: "sim 1 MiB write+sync",
    baseline: i === 0,
    fn: () => {
      v = (v + 1) & 0xff;
      map.write((b) => b.fill(v));
    },
  });
  Deno.bench({
    name: `1 MiB read+sync, ${label}`,
    group: "sim 1 MiB read+sync",
    baseline: i === 0,
    fn: () => {
      map.read((b) => b[v]);
    },
  });
}
