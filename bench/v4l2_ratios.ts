/**
 * V4L2 capture into dma-bufs, three ways in one process (one guest boot): the C loop
 * (`bench/c/v4l2_bench.c`), raw libc FFI (one long-lived `v4l2_buffer`, `ioctl` on the fast
 * path, readiness from `poll` on another thread like the library's `pollAsync`), and the
 * library (`VideoQueue.dequeue()`/`queue()` + `wait()`). Each run captures N frames from
 * vivid into system-heap buffers queued with `V4L2_MEMORY_DMABUF`; it reports frames per
 * second (bounded by the driver's frame rate, or by how fast vivid draws under TCG) and the time
 * spent in `VIDIOC_DQBUF` and `VIDIOC_QBUF` per frame (what the library adds on top of the
 * kernel). One unrecorded warm-up round comes first (V8 tier-up), then interleaved rounds;
 * per-frame times are the median frame of a run, and every cell is the median over rounds.
 *
 *   deno run -A bench/v4l2_ratios.ts --c bench/c/v4l2_bench [--device /dev/video0]
 *     [--frames 120] [--rounds 3] [--warmup 20] [--width 640 --height 360] [--out FILE.md]
 *
 * Needs a real V4L2 capture device (vivid in the Debian guest: `bash bench/v4l2_ratios.sh`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadLibc } from "../src/ffi/load.ts";
import { linuxKernel } from "../src/kernel/linux.ts";
import { openHeap } from "../mod.ts";
import { openVideoDevice } from "../src/v4l2/mod.ts";
import { O_CLOEXEC, O_NONBLOCK, O_RDWR, POLLIN } from "../src/uapi/constants.ts";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  v4l2_buffer as B,
  V4L2_MEMORY_DMABUF,
  v4l2_requestbuffers as RB,
  VIDIOC_DQBUF,
  VIDIOC_QBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
} from "../src/uapi/videodev2.ts";

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    c: { type: "string" },
    device: { type: "string", default: "/dev/video0" },
    heap: { type: "string", default: "system" },
    frames: { type: "string", default: "120" },
    warmup: { type: "string", default: "20" },
    buffers: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    width: { type: "string", default: "640" },
    height: { type: "string", default: "360" },
    out: { type: "string" },
  },
});
const BUFFERS = Number(opt.buffers);
const W = Number(opt.width), H = Number(opt.height);

/** One run: wall ns, and per frame the ns spent in DQBUF and in QBUF. */
interface Run {
  frames: number;
  elapsedNs: number;
  dqNs: number[];
  qNs: number[];
}

async function runC(FRAMES: number): Promise<Run> {
  const out = await new Deno.Command(opt.c!, {
    args: [opt.device!, `/dev/dma_heap/${opt.heap}`, `${FRAMES}`, `${BUFFERS}`, `${W}`, `${H}`],
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const [, , elapsed, pairs] = new TextDecoder().decode(out.stdout).trim().split("\t");
  const ns = pairs.split(",").map(Number);
  return {
    frames: FRAMES,
    elapsedNs: Number(elapsed),
    dqNs: ns.filter((_, i) => i % 2 === 0),
    qNs: ns.filter((_, i) => i % 2 === 1),
  };
}

async function runLibrary(FRAMES: number): Promise<Run> {
  using dev = openVideoDevice(opt.device!, { kernel: linuxKernel() });
  const q = dev.queue("capture");
  const fmt = q.setFormat({ width: W, height: H, pixelformat: "YUYV" });
  using heap = openHeap(opt.heap!, { kernel: linuxKernel() });
  const bufs = Array.from({ length: BUFFERS }, () => heap.allocate(fmt.sizeimage));
  try {
    q.requestBuffers(BUFFERS, "dmabuf");
    bufs.forEach((b, i) => q.queue(i, b));
    q.streamOn();
    const dqNs: number[] = [], qNs: number[] = [];
    const t0 = performance.now();
    for (let n = 0; n < FRAMES;) {
      await q.wait({ timeout: 10_000 });
      const a = performance.now();
      const b = q.dequeue();
      if (!b) continue;
      const m = performance.now();
      q.queue(b.index, bufs[b.index]);
      dqNs.push((m - a) * 1e6);
      qNs.push((performance.now() - m) * 1e6);
      n++;
    }
    const elapsed = performance.now() - t0;
    q.streamOff();
    q.requestBuffers(0);
    return { frames: FRAMES, elapsedNs: elapsed * 1e6, dqNs, qNs };
  } finally {
    for (const b of bufs) b.close();
  }
}

async function runRaw(FRAMES: number): Promise<Run> {
  const { symbols: c, errno } = loadLibc();
  const fail = (what: string) => new Error(`${what} failed: errno ${errno[0]}`);
  const path = new TextEncoder().encode(opt.device! + "\0");
  const vfd = c.open(Deno.UnsafePointer.of(path), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (vfd < 0) throw fail("open");
  // Buffers and the format come from the library (setup is not measured).
  using heap = openHeap(opt.heap!, { kernel: linuxKernel() });
  const sizeimage = W * H * 2;
  const bufs = Array.from({ length: BUFFERS }, () => heap.allocate(sizeimage));
  const ab = new ArrayBuffer(B.size), v = new DataView(ab), p = Deno.UnsafePointer.of(ab);
  const pfdAb = new ArrayBuffer(8), pfd = new DataView(pfdAb), pp = Deno.UnsafePointer.of(pfdAb);
  const int = new ArrayBuffer(4), ip = Deno.UnsafePointer.of(int);
  new DataView(int).setUint32(0, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
  const qbuf = (i: number) => {
    new Uint8Array(ab).fill(0);
    v.setUint32(B.index, i, true);
    v.setUint32(B.type, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
    v.setUint32(B.memory, V4L2_MEMORY_DMABUF, true);
    v.setInt32(B.m, bufs[i].fd, true);
    v.setUint32(B.length, sizeimage, true);
    if (c.ioctl(vfd, VIDIOC_QBUF, p) < 0) throw fail("VIDIOC_QBUF");
  };
  try {
    const rb = new ArrayBuffer(RB.size), rv = new DataView(rb);
    rv.setUint32(RB.count, BUFFERS, true);
    rv.setUint32(RB.type, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
    rv.setUint32(RB.memory, V4L2_MEMORY_DMABUF, true);
    if (c.ioctl(vfd, VIDIOC_REQBUFS, Deno.UnsafePointer.of(rb)) < 0) throw fail("REQBUFS");
    for (let i = 0; i < BUFFERS; i++) qbuf(i);
    if (c.ioctl(vfd, VIDIOC_STREAMON, ip) < 0) throw fail("STREAMON");
    const dqNs: number[] = [], qNs: number[] = [];
    const t0 = performance.now();
    for (let n = 0; n < FRAMES;) {
      pfd.setInt32(0, vfd, true);
      pfd.setInt16(4, POLLIN, true);
      pfd.setInt16(6, 0, true);
      if (await c.poll_nonblocking(pp, 1n, 10_000) <= 0) throw new Error("poll timed out");
      const a = performance.now();
      new Uint8Array(ab).fill(0);
      v.setUint32(B.type, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
      v.setUint32(B.memory, V4L2_MEMORY_DMABUF, true);
      if (c.ioctl(vfd, VIDIOC_DQBUF, p) < 0) {
        if (errno[0] === 11) continue;
        throw fail("VIDIOC_DQBUF");
      }
      const m = performance.now();
      qbuf(v.getUint32(B.index, true));
      dqNs.push((m - a) * 1e6);
      qNs.push((performance.now() - m) * 1e6);
      n++;
    }
    const elapsed = performance.now() - t0;
    c.ioctl(vfd, VIDIOC_STREAMOFF, ip);
    rv.setUint32(RB.count, 0, true);
    c.ioctl(vfd, VIDIOC_REQBUFS, Deno.UnsafePointer.of(rb));
    return { frames: FRAMES, elapsedNs: elapsed * 1e6, dqNs, qNs };
  } finally {
    c.close(vfd);
    for (const b of bufs) b.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
type Impl = [string, (frames: number) => Promise<Run>];
const impls: Impl[] = [
  ...(opt.c ? [["C loop", runC] as Impl] : []),
  ["raw FFI", runRaw],
  ["library", runLibrary],
];
const FRAMES = Number(opt.frames);
// One unrecorded warm-up round: V8 compiles and tiers up the JS loops, vivid starts once.
if (Number(opt.warmup) > 0) { for (const [, fn] of impls) await fn(Number(opt.warmup)); }
const runs = new Map<string, Run[]>(impls.map(([n]) => [n, []]));
for (let r = 0; r < Number(opt.rounds); r++) {
  for (const [name, fn] of impls) runs.get(name)!.push(await fn(FRAMES));
}
const rows = impls.map(([name]) => {
  const rs = runs.get(name)!;
  const sum = (x: Run) => x.dqNs.map((d, i) => d + x.qNs[i]);
  return {
    name,
    fps: median(rs.map((x) => x.frames / (x.elapsedNs / 1e9))),
    dq: median(rs.map((x) => median(x.dqNs) / 1e3)),
    q: median(rs.map((x) => median(x.qNs) / 1e3)),
    both: median(rs.map((x) => median(sum(x)) / 1e3)),
    mean: median(rs.map((x) => sum(x).reduce((a, b) => a + b, 0) / x.frames / 1e3)),
  };
});
const base = rows[0].both;
const lines = [
  `#### V4L2 capture: ${FRAMES} frames ${W}x${H} YUYV from ${opt.device} into ${BUFFERS} ` +
  `"${opt.heap}"-heap dma-bufs (${linuxKernel().description}; median of ${opt.rounds} ` +
  `interleaved rounds after a ${opt.warmup}-frame warm-up)`,
  "",
  `| implementation | fps | µs DQBUF | µs QBUF | µs DQBUF+QBUF | × ${rows[0].name} | ` +
  "µs DQBUF+QBUF, mean |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map((r) =>
    `| ${r.name} | ${r.fps.toFixed(1)} | ${r.dq.toFixed(1)} | ${r.q.toFixed(1)} | ` +
    `${r.both.toFixed(1)} | ${(r.both / base).toFixed(2)} | ${r.mean.toFixed(1)} |`
  ),
  "",
  "(µs columns: the median frame of a run, median over rounds; the mean column includes GC and " +
  "JIT outliers.)",
  "",
];
console.log(lines.join("\n"));
if (opt.out) Deno.writeTextFileSync(opt.out, lines.join("\n") + "\n");
