/**
 * Cost of the non-coherent CPU model (`src/sim/cache.ts`): a 1 MiB write through the mapping
 * between SYNC START(WRITE) and END(WRITE) (`map.write`), on a coherent machine (the baseline),
 * a non-coherent one with the sanitizer off, and one with it reporting (the default there).
 * Target: the non-coherent write+sync within 3× of the coherent one.
 *
 *   deno bench bench/coherency_bench.ts
 *
 * Measured on the shared 2-core development host (loaded: averages swing 3–10× between runs, so
 * the minimum per iteration is the figure to compare), `deno bench --no-check` through the
 * project's heavy-job slot; min per iteration (p75), ranges over the runs made:
 *
 * | 1 MiB                    | coherent       | non-coherent, off | non-coherent, report |
 * | ------------------------ | -------------- | ----------------- | -------------------- |
 * | write+sync (5 runs)      | 8.4–9.1 µs (10–40) | 29.4–32.4 µs (32–73) | 35.2–40.5 µs (39–108) |
 * | read+sync (2 runs)       | 0.8 µs (1–1.6) | 22 µs (26–33)     | 65 µs (75–160)       |
 * | before: write (1 run)    | 10.0 µs (17)   | 74.2 µs (114)     | 88.0 µs (126)        |
 * | before: read (1 run)     | 0.9 µs (2.5)   | 125 µs (226)      | 415 µs (624)         |
 *
 * ("before": the model as first merged, which scanned every line at each clean and kept one
 * object per dirty line.) A write+sync costs the write, then one copy of the buffer (the clean:
 * the CPU view to memory, `TypedArray.set`) and, with the sanitizer, one captured stack (the
 * START's): about 3.5× the coherent write with the sanitizer off, 4.2× with it reporting — short
 * of the 3× target, the copy alone being 2–2.5× a `fill` of the same bytes. A read+sync costs
 * two compares of the CPU view with memory (`Buffer.compare`, 16 KiB at a time) and a copy.
 *
 * A udmabuf (`openUdmabuf().allocate(1 MiB)`, the memfd inode's cache), one run, min (p75):
 * write+sync 9.4 µs (14) coherent, 32.3 µs (38) off, 38.6 µs (47) reporting — the heap's
 * figures; read+sync 2.8 µs (3.4), 47 µs (54), 118 µs (160): every START after udmabuf's first
 * invalidates (`dma_sync_sg_for_cpu`, a copy of memory into the CPU view, and with the sanitizer
 * a scan for the dirty lines it would discard), where a heap's START invalidates only while a
 * device has the buffer mapped. The heap rows of the same run were within the ranges above.
 */
import { createSimMachine, type SanitizerMode } from "../src/sim/mod.ts";
import { openHeap } from "../src/heaps/heap.ts";
import { openUdmabuf } from "../src/heaps/udmabuf.ts";

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

// The same on a udmabuf (`openUdmabuf().allocate()`: a memfd's pages, whose cache is the memfd
// inode's on a non-coherent board; START after the first invalidates unless WRITE only).
for (const [i, [label, coherency, sanitizer]] of boards.entries()) {
  const kernel = createSimMachine({ coherency, sanitizer }).process();
  const buf = openUdmabuf({ kernel }).allocate(MiB);
  const map = buf.map();
  let v = 0;
  Deno.bench({
    name: `udmabuf 1 MiB write+sync, ${label}`,
    group: "sim udmabuf 1 MiB write+sync",
    baseline: i === 0,
    fn: () => {
      v = (v + 1) & 0xff;
      map.write((b) => b.fill(v));
    },
  });
  Deno.bench({
    name: `udmabuf 1 MiB read+sync, ${label}`,
    group: "sim udmabuf 1 MiB read+sync",
    baseline: i === 0,
    fn: () => {
      map.read((b) => b[v]);
    },
  });
}
