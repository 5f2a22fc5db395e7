/**
 * Interleaved comparison of C, raw FFI, the `Kernel` seam and the library, printed as markdown
 * tables of medians and ratios. Each round runs every level once per operation and size, in a
 * rotating order; the tables give the median over rounds, so a noisy neighbour or a slow TCG
 * phase hits every level alike.
 *
 *   deno run -A --v8-flags=--expose-gc bench/ratios.ts --mode heap|floor|sim [--rounds 9]
 *            [--budget-ms 150]
 *            [--c bench/c/dmabuf_bench] [--out FILE]
 *
 * `heap` needs a usable /dev/dma_heap/system (the qemu guest: see `ratios.sh`); `floor` is the
 * per-ioctl cost (FIONREAD on a memfd) and runs on any Linux; `sim` is the simulated kernel.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { linuxKernel } from "../src/kernel/linux.ts";
import { loadLibc } from "../src/ffi/load.ts";
import { FIONREAD } from "../src/ffi/libc.ts";
import { MFD_CLOEXEC } from "../src/uapi/constants.ts";
import { createSimMachine } from "../src/sim/mod.ts";
import {
  HEAP_PATH,
  kernelOps,
  libraryOps,
  measure,
  median,
  type Op,
  OP_LABELS,
  OPS,
  type OpSet,
  sizeLabel,
  SIZES,
} from "./_ops.ts";
import { rawOps } from "./_raw_ops.ts";
import { fmtNs, fmtRatio, table } from "./_table.ts";
import { simScaling } from "./_sim_scaling.ts";

const { values: opt } = parseArgs({
  options: {
    mode: { type: "string", default: "floor" },
    rounds: { type: "string", default: "9" },
    "budget-ms": { type: "string", default: "150" },
    c: { type: "string", default: "bench/c/dmabuf_bench" },
    out: { type: "string" },
  },
});
const ROUNDS = Number(opt.rounds);
const BUDGET = Number(opt["budget-ms"]);
const out: string[] = [];
const emit = (s = "") => {
  console.log(s);
  out.push(s);
};

/** ns per op of the C reference, keyed `op size`. */
function runC(args: string[]): Map<string, number> {
  const r = new Deno.Command(opt.c!, { args, stderr: "inherit" }).outputSync();
  if (!r.success) throw new Error(`${opt.c} ${args.join(" ")} failed (${r.code})`);
  const m = new Map<string, number>();
  for (const line of new TextDecoder().decode(r.stdout).trim().split("\n")) {
    const [, op, size, ns] = line.split("\t");
    m.set(`${op} ${size}`, Number(ns));
  }
  return m;
}

/** Measurements that threw: shown under their table instead of ending the run. */
const failures: string[] = [];

/** `measure`, but a throwing operation records NaN (a "—" cell) and the error once. */
function tryMeasure(fn: () => void, what: string): number {
  try {
    return measure(fn, BUDGET).ns;
  } catch (e) {
    const line = `${what}: ${(e as Error).message}`;
    if (!failures.includes(line)) failures.push(line);
    return NaN;
  }
}

function emitFailures() {
  if (failures.length === 0) return;
  emit("Failed measurements (the cells show —):");
  emit();
  for (const f of failures.splice(0)) emit(`- ${f}`);
  emit();
}

/** samples[level][`op size`] = ns per op of each round. */
type Samples = Record<string, Record<string, number[]>>;
function record(s: Samples, level: string, key: string, ns: number) {
  ((s[level] ??= {})[key] ??= []).push(ns);
}
const med = (s: Samples, level: string, key: string) => median(s[level]?.[key] ?? []);

function cpuModel(): string {
  try {
    const text = linuxKernel().readText("/proc/cpuinfo");
    return /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

function loadAverage(): string {
  try {
    return linuxKernel().readText("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

function header(title: string) {
  const k = linuxKernel();
  const flavor = Deno.env.get("DMABUF_KERNEL_FLAVOR");
  const where = flavor
    ? `qemu guest (${flavor} kernel, TCG: no KVM — JIT-heavy JS is inflated, see the note)`
    : "host, natively";
  emit(`### ${title}`);
  emit();
  emit(
    `${where}: ${k.description}; ${cpuModel()}; Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); ` +
      `${navigator.hardwareConcurrency} CPUs, load average at start ${loadAverage()}; ${ROUNDS} interleaved rounds after one unrecorded warm-up round, ` +
      `${BUDGET} ms per measurement (after a ${BUDGET / 4} ms warm-up` +
      `${"gc" in globalThis ? " and a forced GC" : ""}), median of rounds.`,
  );
  emit();
}

function floor() {
  header("Per-ioctl floor: ioctl(FIONREAD) on a memfd");
  const k = linuxKernel();
  const { symbols: c } = loadLibc();
  const fd = k.memfdCreate("ratios", MFD_CLOEXEC);
  k.ftruncate(fd, 4096);
  const out4 = new Int32Array(new ArrayBuffer(4));
  const ptr = Deno.UnsafePointer.of(out4);
  const ub = k.userBuffer(4);
  const levels: [string, () => void][] = [
    ["raw", () => void c.ioctl(fd, FIONREAD, ptr)],
    ["kernel", () => void k.ioctl(fd, FIONREAD, ub, "FIONREAD")],
  ];
  const s: Samples = {};
  for (let r = -1; r < ROUNDS; r++) {
    const rec = r < 0 ? () => {} : record; // round 0 warms up, unrecorded
    rec(s, "c", "ioctl", runC(["ioctl", String(BUDGET)]).get("ioctl 0")!);
    for (const [level, fn] of levels) rec(s, level, "ioctl", measure(fn, BUDGET).ns);
  }
  const cNs = med(s, "c", "ioctl");
  emit(table(["C", "raw FFI", "Kernel.ioctl", "raw ÷ C", "Kernel ÷ raw", "Kernel ÷ C"], [[
    fmtNs(cNs),
    fmtNs(med(s, "raw", "ioctl")),
    fmtNs(med(s, "kernel", "ioctl")),
    fmtRatio(med(s, "raw", "ioctl") / cNs),
    fmtRatio(med(s, "kernel", "ioctl") / med(s, "raw", "ioctl")),
    fmtRatio(med(s, "kernel", "ioctl") / cNs, 1.3),
  ]]));
  emit();
  k.close(fd);
}

/** Target of library ÷ C for an op at a size in the guest, if there is one. */
function cTarget(op: Op, size: number): number | undefined {
  if (op !== "alloc") return undefined;
  if (size >= 1 << 20) return 1.05;
  if (size === 4096) return 1.5;
  return undefined;
}

function heap() {
  header(`Real dma-heap (${HEAP_PATH})`);
  const k = linuxKernel();
  const sets: Record<string, OpSet>[] = SIZES.map((size) => ({
    raw: rawOps(size),
    kernel: kernelOps(k, size),
    lib: libraryOps(k, size),
  }));
  const s: Samples = {};
  // Round 0 is a warm-up, not recorded: V8 tiers the code up (and under TCG every new tier's
  // machine code is translated again), so the first round mostly measures compilers.
  for (let r = -1; r < ROUNDS; r++) {
    const t0 = performance.now();
    const rec = r < 0 ? () => {} : record;
    SIZES.forEach((size, i) => {
      const order = ["c", "raw", "kernel", "lib"];
      for (let j = 0; j < (r + 1 + i) % order.length; j++) order.push(order.shift()!);
      for (const level of order) {
        if (level === "c") {
          const m = runC(["heap", HEAP_PATH, String(BUDGET), OPS.join(","), String(size)]);
          for (const op of OPS) rec(s, "c", `${op} ${size}`, m.get(`${op} ${size}`)!);
        } else {
          for (const op of OPS) {
            const ns = tryMeasure(
              sets[i][level].run[op],
              `${level} ${OP_LABELS[op]} ${sizeLabel(size)}`,
            );
            rec(s, level, `${op} ${size}`, ns);
          }
        }
      }
    });
    const took = ((performance.now() - t0) / 1e3).toFixed(1);
    console.error(r < 0 ? `warm-up round: ${took} s` : `round ${r + 1}/${ROUNDS}: ${took} s`);
  }
  sets.forEach((byLevel) => Object.values(byLevel).forEach((set) => set.close()));
  const rows = [];
  for (const op of OPS) {
    for (const size of SIZES) {
      const key = `${op} ${size}`;
      const [c, raw, kern, lib] = ["c", "raw", "kernel", "lib"].map((l) => med(s, l, key));
      rows.push([
        OP_LABELS[op],
        sizeLabel(size),
        fmtNs(c),
        fmtNs(raw),
        fmtNs(kern),
        fmtNs(lib),
        fmtRatio(raw / c),
        fmtRatio(lib / raw, 1.1),
        fmtRatio(lib / c, cTarget(op, size)),
      ]);
    }
  }
  emit(table([
    "operation",
    "size",
    "C",
    "raw FFI",
    "Kernel",
    "library",
    "raw ÷ C",
    "library ÷ raw",
    "library ÷ C",
  ], rows));
  emit();
  emitFailures();
}

function sim() {
  header("Simulated kernel: library against the simulated process's Kernel calls");
  const sets: Record<string, OpSet>[] = SIZES.map((size) => ({
    kernel: kernelOps(createSimMachine().process(), size),
    lib: libraryOps(createSimMachine().process(), size),
  }));
  const s: Samples = {};
  for (let r = -1; r < ROUNDS; r++) {
    const rec = r < 0 ? () => {} : record; // round 0 warms up, unrecorded
    SIZES.forEach((size, i) => {
      const order = r % 2 ? ["lib", "kernel"] : ["kernel", "lib"];
      for (const level of order) {
        for (const op of OPS) {
          const ns = tryMeasure(
            sets[i][level].run[op],
            `${level} ${OP_LABELS[op]} ${sizeLabel(size)}`,
          );
          rec(s, level, `${op} ${size}`, ns);
        }
      }
    });
  }
  sets.forEach((byLevel) => Object.values(byLevel).forEach((set) => set.close()));
  const rows = [];
  for (const op of OPS) {
    for (const size of SIZES) {
      const key = `${op} ${size}`;
      const kern = med(s, "kernel", key);
      const lib = med(s, "lib", key);
      const target = op === "alloc" && size === 4096 ? " (target ≤ 2 µs)" : "";
      rows.push([
        OP_LABELS[op],
        sizeLabel(size),
        fmtNs(kern),
        fmtNs(lib) + (target && (lib <= 2000 ? " ✓" : " ✗") + target),
        fmtRatio(lib / kern),
      ]);
    }
  }
  emit(table(["operation", "size", "Kernel (sim)", "library (sim)", "library ÷ Kernel"], rows));
  emit();
  emitFailures();
  emit(simScaling(ROUNDS, BUDGET));
}

switch (opt.mode) {
  case "floor":
    floor();
    break;
  case "heap":
    heap();
    break;
  case "sim":
    sim();
    break;
  default:
    throw new Error(`Unknown --mode ${opt.mode}: use heap, floor or sim`);
}
if (opt.out) Deno.writeTextFileSync(opt.out, out.join("\n") + "\n");
