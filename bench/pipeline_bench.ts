/**
 * A 3-stage driver pipeline (driver A invert → driver B +1 → driver A invert) over 1920×1080
 * RGBA frames, on the kernel in use (the simulated one unless a real kernel with
 * `test_driver.ko` is there): `deno task bench` or
 * `deno bench --allow-ffi --allow-read --allow-env bench/pipeline_bench.ts`.
 *
 * - "trip latency": one buffer through the three stages, nothing else in flight (the baseline).
 * - "throughput": 8 frames through the three stages from a pool of 4; frames per second is
 *   8000 / (the mean time in ms). On a real kernel each stage's worker runs on its own CPU and
 *   the stages overlap; on the simulated kernel every "device" runs on the JS thread, so the
 *   best it can do is 1 / latency (and four 8 MB buffers miss the caches more than one does).
 *
 * No payload is produced or checked here (the example does that): this measures the drivers and
 * the library's queue/poll/dequeue round trips.
 */
import { createBufferPool, openStage, Pipeline } from "../src/pipeline/mod.ts";
import { listHeaps, openHeap } from "../mod.ts";

const FRAME = 1920 * 1080 * 4;
const contiguous = listHeaps().some((h) => h.role === "contiguous" && h.accessible);
const heap = contiguous ? openHeap({ role: "contiguous" }) : openHeap("system");
const one = createBufferPool(heap, { count: 1, size: FRAME, name: "bench-1" });
const four = createBufferPool(heap, { count: 4, size: FRAME, name: "bench-4" });
const stages = [
  openStage("/dev/driverA", { op: "invert" }),
  openStage("/dev/driverB", { op: "increment" }),
  openStage("/dev/driverA", { op: "invert" }),
];
const latency = new Pipeline(stages, one);
const throughput = new Pipeline(stages, four);

Deno.bench("trip latency: 1 frame through 3 stages", {
  group: "pipeline 1080p RGBA",
  baseline: true,
}, async () => {
  await latency.run({ frames: 1 });
});

Deno.bench("throughput: 8 frames through 3 stages, pool of 4", {
  group: "pipeline 1080p RGBA",
}, async () => {
  await throughput.run({ frames: 8 });
});

globalThis.addEventListener("unload", () => {
  for (const s of stages) s.close();
  one.close();
  four.close();
  heap.close();
});
