/**
 * V4L2 capture into dma-bufs, three ways in one process (one guest boot): the C loop
 * (`bench/c/v4l2_bench.c`), raw libc FFI (one long-lived `v4l2_buffer`, `ioctl` on the fast
 * path, readiness from `poll` on another thread like the library's `pollAsync`), and the
 * library (`VideoQueue.dequeue()`/`queue()` + `wait()`). Each run captures N frames from
 * vivid into system-heap buffers queued with `V4L2_MEMORY_DMABUF`; it reports frames per
 * second (bounded by the driver's frame rate) and the time spent in DQBUF + QBUF per frame
 * (what the library adds on top of the kernel). Rounds are interleaved; medians are printed.
 *
 *   deno run -A bench/v4l2_ratios.ts --c bench/c/v4l2_bench [--device /dev/video0]
 *     [--frames 60] [--rounds 3] [--width 640 --height 360] [--out FILE.md]
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
    frames: { type: "string", default: "60" },
    buffers: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    width: { type: "string", default: "640" },
    height: { type: "string", default: "360" },
    out: { type: "string" },
  },
});
const FRAMES = Number(opt.frames), BUFFERS = Number(opt.buffers);
const W = Number(opt.width), H = Number(opt.height);

/** One run: frames, wall ns, ns spent in DQBUF+QBUF. */
interface Run {
  elapsedNs: number;
  ioctlNs: number;
}

async function runC(): Promise<Run> {
  const out = await new Deno.Command(opt.c!, {
    args: [opt.device!, `/dev/dma_heap/${opt.heap}`, `${FRAMES}`, `${BUFFERS}`, `${W}`, `${H}`],
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const [, , elapsed, ioctls] = new TextDecoder().decode(out.stdout).trim().split("\t");
  return { elapsedNs: Number(elapsed), ioctlNs: Number(ioctls) };
}

async function runLibrary(): Promise<Run> {
  using dev = openVideoDevice(opt.device!, { kernel: linuxKernel() });
  const q = dev.queue("capture");
  const fmt = q.setFormat({ width: W, height: H, pixelformat: "YUYV" });
  using heap = openHeap(opt.heap!, { kernel: linuxKernel() });
  const bufs = Array.from({ length: BUFFERS }, () => heap.allocate(fmt.sizeimage));
  try {
    q.requestBuffers(BUFFERS, "dmabuf");
    bufs.forEach((b, i) => q.queue(i, b));
    q.streamOn();
    let ioctl = 0;
    const t0 = performance.now();
    for (let n = 0; n < FRAMES;) {
      await q.wait({ timeout: 10_000 });
      const a = performance.now();
      const b = q.dequeue();
      if (!b) continue;
      q.queue(b.index, bufs[b.index]);
      ioctl += performance.now() - a;
      n++;
    }
    const elapsed = performance.now() - t0;
    q.streamOff();
    q.requestBuffers(0);
    return { elapsedNs: elapsed * 1e6, ioctlNs: ioctl * 1e6 };
  } finally {
    for (const b of bufs) b.close();
  }
}

async function runRaw(): Promise<Run> {
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
    let ioctl = 0;
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
      qbuf(v.getUint32(B.index, true));
      ioctl += performance.now() - a;
      n++;
    }
    const elapsed = performance.now() - t0;
    c.ioctl(vfd, VIDIOC_STREAMOFF, ip);
    rv.setUint32(RB.count, 0, true);
    c.ioctl(vfd, VIDIOC_REQBUFS, Deno.UnsafePointer.of(rb));
    return { elapsedNs: elapsed * 1e6, ioctlNs: ioctl * 1e6 };
  } finally {
    c.close(vfd);
    for (const b of bufs) b.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const impls: [string, () => Promise<Run>][] = [
  ...(opt.c ? [["C loop", runC] as [string, () => Promise<Run>]] : []),
  ["raw FFI", runRaw],
  ["library", runLibrary],
];
const runs = new Map<string, Run[]>(impls.map(([n]) => [n, []]));
for (let r = 0; r < Number(opt.rounds); r++) {
  for (const [name, fn] of impls) runs.get(name)!.push(await fn());
}
const rows = impls.map(([name]) => {
  const rs = runs.get(name)!;
  return {
    name,
    fps: median(rs.map((x) => FRAMES / (x.elapsedNs / 1e9))),
    us: median(rs.map((x) => x.ioctlNs / FRAMES / 1e3)),
  };
});
const base = rows[0].us;
const lines = [
  `#### V4L2 capture: ${FRAMES} frames ${W}x${H} YUYV from ${opt.device} into ${BUFFERS} ` +
  `"${opt.heap}"-heap dma-bufs (${linuxKernel().description}; median of ${opt.rounds} ` +
  `interleaved rounds)`,
  "",
  `| implementation | fps | µs per DQBUF+QBUF | × ${rows[0].name} |`,
  "| --- | ---: | ---: | ---: |",
  ...rows.map((r) =>
    `| ${r.name} | ${r.fps.toFixed(1)} | ${r.us.toFixed(1)} | ${(r.us / base).toFixed(2)} |`
  ),
  "",
];
console.log(lines.join("\n"));
if (opt.out) Deno.writeTextFileSync(opt.out, lines.join("\n") + "\n");
