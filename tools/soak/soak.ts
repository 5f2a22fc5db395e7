/**
 * Leak soak: `cycles` rounds of allocate → map → write → unmap → close through the public API,
 * printing the process's fds, mappings, RSS and V8 heap at the start, at every tenth and at the
 * end. Meant for the real kernel (`deno task soak` in a guest with `DMABUF_KERNEL=linux`).
 *
 * `--mode` narrows the cycle to find where memory goes:
 * - `full` (default): `heap.allocate(size)`, `map()`, `write(fill)`, `unmap()`, `close()`;
 * - `alloc`: allocate and close only;
 * - `raw-mmap`: the kernel seam alone on one memfd — `mmap`, a view, `munmap` (Linux or the
 *   host's libc: no dma-heap needed), to separate Deno's FFI ArrayBuffers from the library.
 *
 * Usage: deno run --allow-ffi --allow-read --allow-env --v8-flags=--expose-gc tools/soak/soak.ts
 *   [--cycles 100000] [--size 4096] [--mode full|alloc|raw-mmap] [--gc-every 0] [--json]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { openHeap } from "../../mod.ts";
import { getKernel } from "../../src/kernel/mod.ts";
import { linuxKernel } from "../../src/kernel/linux.ts";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "../../src/uapi/constants.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    cycles: { type: "string", default: "100000" },
    size: { type: "string", default: "4096" },
    mode: { type: "string", default: "full" },
    "gc-every": { type: "string", default: "0" },
    json: { type: "boolean", default: false },
  },
});
const cycles = Number(values.cycles), size = Number(values.size), mode = values.mode;
const gcEvery = Number(values["gc-every"]);
const gc = (globalThis as { gc?: () => void }).gc;

const k = mode === "raw-mmap" ? linuxKernel() : getKernel();

/** One sample of the process's resources. */
interface Sample {
  cycle: number;
  fds: number;
  maps: number;
  rssMB: number;
  heapUsedMB: number;
  externalMB: number;
  seconds: number;
}

const t0 = performance.now();
const samples: Sample[] = [];
function sample(cycle: number): void {
  const mem = Deno.memoryUsage();
  let rss = mem.rss;
  try {
    // VmRSS through the kernel seam on Linux; Deno's own figure elsewhere.
    const m = /VmRSS:\s+(\d+) kB/.exec(k.readText("/proc/self/status"));
    if (m) rss = Number(m[1]) * 1024;
  } catch { /* the simulated kernel has no /proc/self/status */ }
  const s: Sample = {
    cycle,
    fds: k.readDir("/proc/self/fd").length,
    maps: k.readText("/proc/self/maps").split("\n").filter((l) => l).length,
    rssMB: +(rss / 2 ** 20).toFixed(1),
    heapUsedMB: +(mem.heapUsed / 2 ** 20).toFixed(1),
    externalMB: +(mem.external / 2 ** 20).toFixed(1),
    seconds: +((performance.now() - t0) / 1000).toFixed(1),
  };
  samples.push(s);
  console.log(
    `cycle ${String(cycle).padStart(8)}  fds ${s.fds}  maps ${s.maps}  rss ${s.rssMB} MB  ` +
      `heap ${s.heapUsedMB} MB  external ${s.externalMB} MB  ${s.seconds} s`,
  );
}

console.log(`soak: ${cycles} cycles of ${mode}, ${size} bytes, on ${k.description}`);
const heap = mode === "raw-mmap" ? undefined : openHeap("system");
const memfd = mode === "raw-mmap" ? k.memfdCreate("soak", 0) : -1;
if (memfd >= 0) k.ftruncate(memfd, size);
sample(0);
for (let i = 1; i <= cycles; i++) {
  if (mode === "raw-mmap") {
    const region = k.mmap(memfd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    new Uint8Array(region.buffer, region.byteOffset, region.length).fill(i & 0xff);
    k.munmap(region);
  } else {
    const buf = heap!.allocate(size);
    if (mode === "full") {
      const m = buf.map();
      m.write((b) => b.fill(i & 0xff));
      m.unmap();
    }
    buf.close();
  }
  if (gcEvery && i % gcEvery === 0) gc?.();
  if (i % Math.max(1, Math.floor(cycles / 10)) === 0 || i === cycles) sample(i);
}
heap?.close();
if (memfd >= 0) k.close(memfd);
const first = samples[0], mid = samples[Math.floor(samples.length / 2)], last = samples.at(-1)!;
console.log(
  `soak ${mode}: fds ${first.fds} → ${mid.fds} → ${last.fds}, rss ${first.rssMB} → ${mid.rssMB} → ` +
    `${last.rssMB} MB, heap ${first.heapUsedMB} → ${last.heapUsedMB} MB over ${cycles} cycles ` +
    `(${last.seconds} s)`,
);
if (values.json) console.log(JSON.stringify({ mode, size, cycles, samples }));
