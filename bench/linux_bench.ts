/**
 * The library against raw libc FFI on a real dma-heap: per operation and size, raw FFI is the
 * baseline, then the `Kernel` seam (LinuxKernel), then the public API. Needs a usable
 * `/dev/dma_heap/system` (root in the qemu guest: `deno task bench:ratios` runs these loops
 * there); without one every bench is reported as ignored and the reason is printed.
 *
 *   deno bench --allow-ffi --allow-read --allow-env bench/linux_bench.ts
 */
import { linuxKernel } from "../src/kernel/linux.ts";
import { O_CLOEXEC, O_RDONLY } from "../src/uapi/constants.ts";
import {
  HEAP_PATH,
  kernelOps,
  libraryOps,
  OP_LABELS,
  OPS,
  type OpSet,
  sizeLabel,
  SIZES,
} from "./_ops.ts";
import { rawOps } from "./_raw_ops.ts";

function unusable(): string | undefined {
  if (Deno.build.os !== "linux") return `not Linux (${Deno.build.os})`;
  try {
    const k = linuxKernel();
    k.close(k.open(HEAP_PATH, O_RDONLY | O_CLOEXEC));
    return undefined;
  } catch (e) {
    return `${HEAP_PATH} is not usable: ${(e as Error).message}`;
  }
}

const why = unusable();
if (why) console.log(`linux_bench: real-heap benches skipped: ${why}`);

const open: OpSet[] = [];
for (const size of SIZES) {
  const levels: [string, () => OpSet][] = [
    ["raw FFI", () => rawOps(size)],
    ["Kernel", () => kernelOps(linuxKernel(), size)],
    ["library", () => libraryOps(linuxKernel(), size)],
  ];
  const sets = why ? [] : levels.map(([, make]) => make());
  open.push(...sets);
  for (const op of OPS) {
    const group = `linux ${op} ${sizeLabel(size)}`;
    levels.forEach(([level], i) => {
      const name = `${level} ${OP_LABELS[op]} ${sizeLabel(size)}`;
      if (why) Deno.bench({ name, group, ignore: true, fn() {} });
      else Deno.bench({ name, group, baseline: i === 0, fn: sets[i].run[op] });
    });
  }
}

globalThis.addEventListener("unload", () => open.forEach((s) => s.close()));
