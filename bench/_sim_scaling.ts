/**
 * Simulated-kernel scaling for `ratios.ts --mode sim`: allocate+close cost with 10, 1 000 and
 * 100 000 buffers alive, and host memory per allocated MiB.
 *
 * @module
 */
import { createSimMachine } from "../src/sim/mod.ts";
import { openHeap } from "../src/heaps/heap.ts";
import type { DmaBuf } from "../src/dmabuf/buffer.ts";
import { kernelOps, measure, median, sizeLabel } from "./_ops.ts";
import { fmtNs, fmtRatio, table } from "./_table.ts";

/** Live-buffer counts. */
export const LIVE = [10, 1_000, 100_000] as const;
/** Flat means the 100 000-alive median is within this factor of the 10-alive one. */
export const FLAT = 1.25;

const gc = (globalThis as { gc?: () => void }).gc;

function settle() {
  if (gc) { for (let i = 0; i < 3; i++) gc(); }
}

function scaling(rounds: number, budgetMs: number): string {
  const size = 4096;
  const setups = LIVE.map((live) => {
    const kernel = createSimMachine().process();
    const heap = openHeap("system", { kernel });
    const t0 = performance.now();
    const held: DmaBuf[] = [];
    for (let i = 0; i < live; i++) held.push(heap.allocate(size));
    const setupMs = performance.now() - t0;
    const k = kernelOps(kernel, size);
    return {
      live,
      held,
      heap,
      k,
      setupMs,
      lib: () => heap.allocate(size).close(),
      ns: { lib: [] as number[], kernel: [] as number[] },
    };
  });
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 ? [...setups].reverse() : setups) {
      s.ns.kernel.push(measure(s.k.run.alloc, budgetMs).ns);
      s.ns.lib.push(measure(s.lib, budgetMs).ns);
    }
  }
  const base = median(setups[0].ns.lib);
  const baseK = median(setups[0].ns.kernel);
  const rows = setups.map((s) => {
    const lib = median(s.ns.lib);
    const kern = median(s.ns.kernel);
    return [
      s.live.toLocaleString("en-US"),
      fmtNs(kern),
      fmtRatio(kern / baseK, s.live === 10 ? undefined : FLAT),
      fmtNs(lib) + (lib <= 2000 ? " ✓" : " ✗") + " (≤ 2 µs)",
      fmtRatio(lib / base, s.live === 10 ? undefined : FLAT),
      fmtNs((s.setupMs * 1e6) / s.live),
    ];
  });
  for (const s of setups) {
    s.held.forEach((b) => b.close());
    s.k.close();
    s.heap.close();
  }
  return table([
    "buffers alive",
    "Kernel alloc+close",
    "÷ 10 alive",
    "library allocate+close",
    "÷ 10 alive",
    "library allocate (filling up)",
  ], rows);
}

function memory(): string {
  const cases: [number, number, boolean][] = [
    [4096, 10_000, false],
    [4096, 10_000, true],
    [1 << 20, 256, false],
    [1 << 20, 256, true],
    [16 << 20, 16, true],
  ];
  const rows = cases.map(([size, count, touch]) => {
    const kernel = createSimMachine({ memorySize: 2 * 1024 ** 3 }).process();
    const heap = openHeap("system", { kernel });
    settle();
    const before = Deno.memoryUsage();
    const held: DmaBuf[] = [];
    for (let i = 0; i < count; i++) {
      const buf = heap.allocate(size);
      if (touch) {
        const map = buf.map();
        map.write((b) => b.fill(1));
        map.unmap();
      }
      held.push(buf);
    }
    settle();
    const after = Deno.memoryUsage();
    const mib = (size * count) / (1 << 20);
    const per = (k: "rss" | "heapUsed" | "external") => (after[k] - before[k]) / mib;
    const row = [
      `${count.toLocaleString("en-US")} × ${sizeLabel(size)}`,
      touch ? "mapped and filled" : "allocated only",
      `${(per("heapUsed") / 1024).toFixed(1)} KiB`,
      `${(per("external") / 1024).toFixed(1)} KiB`,
      `${(per("rss") / 1024).toFixed(1)} KiB`,
      `${((after.heapUsed - before.heapUsed) / count).toFixed(0)} B`,
    ];
    held.forEach((b) => b.close());
    heap.close();
    return row;
  });
  const note = gc
    ? "after three forced GCs (`--v8-flags=--expose-gc`)"
    : "WITHOUT forced GC (run with `--v8-flags=--expose-gc` for settled numbers)";
  return `Host memory per allocated MiB (\`Deno.memoryUsage()\` deltas ${note}):\n\n` +
    table([
      "buffers",
      "touched",
      "JS heap / MiB",
      "external (ArrayBuffers) / MiB",
      "RSS / MiB",
      "JS heap / buffer",
    ], rows);
}

/**
 * The scaling and memory tables.
 *
 * @param rounds Interleaved rounds.
 * @param budgetMs Time per measurement.
 */
export function simScaling(rounds: number, budgetMs: number): string {
  return `4 KiB allocate+close with buffers alive (flat = within ${FLAT}× of 10 alive):\n\n` +
    scaling(rounds, budgetMs) + "\n\n" + memory() + "\n";
}
