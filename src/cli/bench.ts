/**
 * `dmabuf bench`: allocate+close latency per size on the kernel in use.
 *
 * @module
 */
import { openHeap } from "../heaps/heap.ts";
import { type Command, kernelLine, printJson } from "./command.ts";
import { heapArg } from "./alloc.ts";
import { ExitCode, UsageError } from "./errors.ts";
import type { CliIo } from "./io.ts";
import { formatSize, parseSize } from "./size.ts";
import { renderTable } from "./table.ts";

/** The sizes measured by default: 4 KiB, 64 KiB, 1 MiB, 16 MiB. */
export const BENCH_SIZES: readonly number[] = [4096, 65536, 1 << 20, 16 << 20];

/** One size's latencies, in microseconds per allocate+close. */
export interface BenchResult {
  /** Bytes per buffer. */
  size: number;
  /** Timed iterations. */
  iterations: number;
  /** Mean. */
  meanUs: number;
  /** Median. */
  medianUs: number;
  /** Fastest. */
  minUs: number;
  /** Slowest. */
  maxUs: number;
}

/**
 * The default iteration count for a size: 200 for small buffers, fewer for large ones (about
 * 50 MiB allocated per size), at least 10.
 *
 * @param size Bytes per buffer.
 * @returns The iteration count.
 */
export function defaultIterations(size: number): number {
  return Math.min(200, Math.max(10, Math.floor((50 << 20) / size)));
}

/**
 * Summarises samples (µs).
 *
 * @param size Bytes per buffer.
 * @param samples The measured latencies.
 * @returns Mean, median, min and max.
 *
 * @example Three samples
 * ```ts
 * import { summarise } from "./bench.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(summarise(4096, [3, 1, 2]), {
 *   size: 4096, iterations: 3, meanUs: 2, medianUs: 2, minUs: 1, maxUs: 3,
 * });
 * ```
 */
export function summarise(size: number, samples: number[]): BenchResult {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return {
    size,
    iterations: s.length,
    meanUs: s.reduce((a, b) => a + b, 0) / s.length,
    medianUs: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2,
    minUs: s[0],
    maxUs: s[s.length - 1],
  };
}

/** Draws a progress bar on stderr when it is a terminal; returns a function that clears it. */
function progress(io: CliIo, total: number): { step(label: string): void; done(): void } {
  let n = 0;
  if (!io.stderrIsTerminal) return { step() {}, done() {} };
  return {
    step(label) {
      n++;
      const width = 30, filled = Math.round((n / total) * width);
      io.stderr(
        `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${label} ${n}/${total}\x1b[K`,
      );
    },
    done: () => io.stderr("\r\x1b[K"),
  };
}

function sizesArg(v: unknown): number[] {
  if (typeof v !== "string") return [...BENCH_SIZES];
  const sizes = v.split(",").map((s) => parseSize(s));
  if (sizes.some((s) => s === 0)) throw new UsageError("--sizes must all be greater than 0");
  return sizes;
}

/** The `bench` command. */
export const benchCommand: Command = {
  name: "bench",
  summary: "Allocate+close latency per size (4 KiB, 64 KiB, 1 MiB, 16 MiB)",
  help: `Usage: dmabuf bench [--heap <name|contiguous>] [--sizes <list>] [--iterations <n>] [--json]

Times allocate+close of one buffer on the kernel in use, per size, and prints mean, median,
min and max in microseconds. A progress bar is drawn on stderr when it is a terminal.

  --heap <heap>       heap name (default "system") or "contiguous"
  --sizes <list>      comma-separated sizes (default 4k,64k,1M,16M)
  --iterations <n>    timed iterations per size (default: 200, fewer for large sizes)
`,
  options: {
    heap: { type: "string" },
    sizes: { type: "string" },
    iterations: { type: "string", short: "i" },
  },
  run(ctx, values, positionals) {
    if (positionals.length > 0) throw new UsageError(`bench takes no positional argument`);
    const sizes = sizesArg(values.sizes);
    let iterations: number | undefined;
    if (values.iterations !== undefined) {
      iterations = Number(values.iterations);
      if (!/^\d+$/.test(String(values.iterations)) || iterations < 1 || iterations > 1e6) {
        throw new UsageError(`--iterations must be an integer from 1 to 1000000`);
      }
    }
    using heap = openHeap(heapArg(typeof values.heap === "string" ? values.heap : "system"), {
      kernel: ctx.kernel,
    });
    const plan = sizes.map((size) => ({ size, n: iterations ?? defaultIterations(size) }));
    const bar = progress(ctx.io, plan.reduce((s, p) => s + p.n, 0));
    const results: BenchResult[] = [];
    try {
      for (const { size, n } of plan) {
        heap.allocate(size).close(); // warm-up: first-touch costs are not the steady state
        const samples: number[] = [];
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          heap.allocate(size).close();
          samples.push((performance.now() - t0) * 1000);
          bar.step(formatSize(size));
        }
        results.push(summarise(size, samples));
      }
    } finally {
      bar.done();
    }
    if (ctx.json) {
      printJson(ctx, { heap: heap.name, results });
      return ExitCode.OK;
    }
    const us = (v: number) => v.toFixed(1);
    ctx.io.stdout(
      kernelLine(ctx) + `Heap: ${heap.name}; allocate+close, µs per operation\n\n` + renderTable(
        [
          { title: "Size", right: true },
          { title: "Iterations", right: true },
          { title: "Mean", right: true },
          { title: "Median", right: true },
          { title: "Min", right: true },
          { title: "Max", right: true },
        ],
        results.map((
          r,
        ) => [
          formatSize(r.size),
          String(r.iterations),
          us(r.meanUs),
          us(r.medianUs),
          us(r.minUs),
          us(r.maxUs),
        ]),
      ),
    );
    return ExitCode.OK;
  },
};
