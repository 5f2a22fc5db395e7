/**
 * Cost of the non-coherent CPU model (`src/sim/cache.ts`): 1 MiB written through the mapping
 * between SYNC START(WRITE) and END(WRITE) (`map.write`), with `fill` (a memset: the cheapest
 * write there is) and with `set` from another 1 MiB array (a frame copied in, the camera/codec
 * case), and a read between START(READ) and END(READ); on a coherent machine (the baseline), a
 * non-coherent one with the sanitizer off, and one with it reporting (the default there). No
 * device has the buffer mapped. Target (issue 14): the non-coherent write+sync within 3× of the
 * coherent one.
 *
 *   deno bench bench/coherency_bench.ts
 *
 * Measured on the shared 2-core development host (AMD EPYC, load 2.3–2.7: averages swing
 * between runs, so the minimum per iteration is the figure to compare), `deno bench --no-check`,
 * 3 runs; min per iteration, range over the runs (the ratio is per run):
 *
 * | 1 MiB            | coherent     | non-coherent, off        | non-coherent, report      |
 * | ---------------- | ------------ | ------------------------ | ------------------------- |
 * | fill + sync      | 8.8–11.6 µs  | 8.4–11.1 µs (0.9–1.1×)   | 34.6–41.6 µs (3.4–4.2×)   |
 * | copy-in + sync   | 22.2–23.6 µs | 21.9–23.8 µs (1.0×)      | 46.9–54.5 µs (2.0–2.4×)   |
 * | read + sync      | 3.2–4.5 µs   | 3.4–4.7 µs (1.0–1.1×)    | 28.0–30.3 µs (6.7–9.2×)   |
 *
 * With the sanitizer off, SYNC does what system_heap.c/cma_heap.c do when no device has the
 * buffer mapped: no cache maintenance (the next `dma_map_sgtable` cleans), so it costs what the
 * coherent board costs. With the sanitizer on, END(WRITE) cleans every time: the clean — one copy
 * of the buffer, CPU view → memory (`TypedArray.set`, a memcpy) — is the record of what the
 * access wrote, against which a later write with no START is told apart when a device reads. It
 * cannot be cheaper than a copy: JavaScript cannot trap a store to an ArrayBuffer, and a later
 * write must be told apart from the access's own. That copy alone costs 2–2.8× a `fill` of the
 * same bytes on this host (memcpy 19.5 µs, memset 7.0 µs per MiB), so the fill row misses the 3×
 * target by what the copy costs over 2×; a write that is itself a copy (the copy-in row) stays
 * within it. A read+sync with the sanitizer costs one compare of the CPU view with memory
 * (`Buffer.compare`, a memcmp: a CPU write inside a READ access is a `direction-mismatch`) and a
 * captured stack. Before this stop (one clean at every END, a START(READ) scan as well):
 * write+sync 29.4–32.4 µs off, 35.2–40.5 µs report; read+sync 22 µs off, 65 µs report.
 *
 * A udmabuf (`openUdmabuf().allocate(1 MiB)`, the memfd inode's cache), 2 runs, min per
 * iteration: fill + sync 9.3–9.7 µs coherent, 30.6–32.3 µs off (3.3×), 39.5–40.7 µs report
 * (4.2×); read + sync 1.3–7.4 µs, 45.6–47.1 µs, 77.6–78.5 µs. udmabuf.c maintains its own sg
 * table whatever is attached: END always cleans (a copy, sanitizer or not), every START after
 * the first invalidates unless WRITE only (a copy of memory into the CPU view, and with the
 * sanitizer a compare for the dirty lines it would discard). The heap rows of the same runs were
 * those of main's model run alongside, within noise (fill + sync report 40.0–44.5 µs against
 * 39.0–40.1 µs, read + sync report 28.6–29.5 µs against 28.9–30.5 µs).
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
  const frame = new Uint8Array(MiB).fill(0x5a);
  Deno.bench({
    name: `1 MiB copy-in+sync, ${label}`,
    group: "sim 1 MiB copy-in+sync",
    baseline: i === 0,
    fn: () => {
      frame[0] = v = (v + 1) & 0xff;
      map.write((b) => b.set(frame));
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
