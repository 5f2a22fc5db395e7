/**
 * A zero-copy pipeline of driver stages over a pool of 1920×1080 RGBA frames. User space
 * fills a frame, queues its fd on driver A (invert), takes it back when `poll` says it is done,
 * queues it on driver B (+1), then on driver A again (invert) — each driver reaches the same
 * physical pages through the dma-buf, so no byte of a frame is copied between user and kernel
 * space. The end result is every byte minus one, which is checked for every frame.
 *
 * Runs unchanged on the simulated kernel and on a real kernel with
 * `tools/kernel/module/test_driver.ko` loaded (which implements the queue ABI).
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/pipeline.ts [frames] [pool]
 */
import { createBufferPool, openStage, Pipeline, type PooledBuffer } from "@dmabuf/dmabuf/pipeline";
import { getKernel } from "@dmabuf/dmabuf/kernel";
import { kernelSelection, listHeaps, openHeap } from "@dmabuf/dmabuf";

const WIDTH = 1920, HEIGHT = 1080, FRAME = WIDTH * HEIGHT * 4;
const frames = Number(Deno.args[0] ?? 30);
const poolSize = Number(Deno.args[1] ?? 4);

/** The RGBA pixel of row `y` in frame `f`, as a little-endian u32. */
function pixel(y: number, f: number): number {
  const r = (y + f) & 0xff, g = (3 * y + f) & 0xff, b = (5 * f) & 0xff, a = 0xff;
  return (r | g << 8 | b << 16 | a << 24) >>> 0;
}

/** Every byte of a u32 minus one (mod 256): invert, +1, invert. */
function minusOne(v: number): number {
  let out = 0;
  for (let s = 0; s < 32; s += 8) out |= (((v >>> s) - 1) & 0xff) << s;
  return out >>> 0;
}

function fill(b: PooledBuffer, f: number): void {
  b.mapping.write((bytes) => {
    const px = new Uint32Array(bytes.buffer, bytes.byteOffset, WIDTH * HEIGHT);
    for (let y = 0; y < HEIGHT; y++) px.fill(pixel(y, f), y * WIDTH, (y + 1) * WIDTH);
  });
}

/** Checks every pixel; returns the expected checksum of the last stage. */
function verify(b: PooledBuffer, f: number): number {
  let sum = 0;
  b.mapping.read((bytes) => {
    const px = new Uint32Array(bytes.buffer, bytes.byteOffset, WIDTH * HEIGHT);
    for (let y = 0; y < HEIGHT; y++) {
      const want = minusOne(pixel(y, f));
      for (let x = y * WIDTH, end = x + WIDTH; x < end; x++) {
        if (px[x] !== want) {
          throw new Error(
            `frame ${f}: pixel (${x % WIDTH}, ${y}) is 0x${px[x].toString(16)}, want 0x${
              want.toString(16)
            }`,
          );
        }
      }
      sum += WIDTH * ((want & 0xff) + (want >>> 8 & 0xff) + (want >>> 16 & 0xff) + (want >>> 24));
    }
  });
  return sum % 2 ** 32;
}

const hex = (n: number) => "0x" + n.toString(16).padStart(8, "0");

const k = getKernel();
console.log(`kernel: ${k.kind} — ${k.description} (${kernelSelection().reason})`);
const contiguous = listHeaps().some((h) => h.role === "contiguous" && h.accessible);
using heap = contiguous ? openHeap({ role: "contiguous" }) : openHeap("system");
console.log(`heap: ${heap.path}${contiguous ? "" : " (no contiguous heap on this kernel)"}`);
using pool = createBufferPool(heap, { count: poolSize, size: FRAME, name: "frame" });
console.log(`pool: ${pool.count} × ${WIDTH}×${HEIGHT} RGBA (${pool.size} bytes each)`);
using a1 = openStage("/dev/driverA", { op: "invert" });
using b = openStage("/dev/driverB", { op: "increment" });
using a2 = openStage("/dev/driverA", { op: "invert" });
console.log(`stages: ${a1.path} invert → ${b.path} increment → ${a2.path} invert`);

const copied0 = k.payloadBytesCopied?.();
const addresses = new Map<number, string>();
const stats = await new Pipeline([a1, b, a2], pool).run({
  frames,
  produce: fill,
  consume: (f) => {
    const want = verify(f.buffer, f.frame);
    const got = f.results[2].checksum;
    if (got !== want) throw new Error(`frame ${f.frame}: checksum ${got}, want ${want}`);
    const trail = f.results.map((r) => hex(r.dmaAddress)).join(" → ");
    if (new Set(f.results.map((r) => r.dmaAddress)).size !== 1) {
      throw new Error(`frame ${f.frame}: the stages saw different pages: ${trail}`);
    }
    addresses.set(f.buffer.index, hex(f.results[0].dmaAddress));
    console.log(
      `frame ${String(f.frame).padStart(3)}  buffer #${f.buffer.index}  dma ${trail}  ` +
        `checksum ok  ${f.latencyMs.toFixed(2)} ms`,
    );
  },
});
const copied = copied0 === undefined ? undefined : k.payloadBytesCopied!() - copied0;

console.log(`\nframes: ${stats.frames} verified end to end (every byte − 1)`);
console.log(`fps: ${stats.fps.toFixed(1)} (${(stats.elapsedMs / 1000).toFixed(2)} s)`);
const l = stats.latencyMs;
console.log(
  `trip latency (3 stages): min ${l.min.toFixed(2)} ms, mean ${l.mean.toFixed(2)} ms, ` +
    `max ${l.max.toFixed(2)} ms`,
);
console.log(
  `payload bytes copied user↔kernel: ${copied === undefined ? "n/a (real kernel)" : copied}`,
);
console.log("DMA address of each pool buffer (the same at every stage):");
for (const [i, addr] of [...addresses].sort((x, y) => x[0] - y[0])) {
  console.log(`  buffer #${i}: ${addr}`);
}
