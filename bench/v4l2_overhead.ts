/**
 * What the library's V4L2 capture loop costs in user space, on any Linux host: one frame's
 * `VIDIOC_DQBUF` + `VIDIOC_QBUF` through `VideoQueue.dequeue()`/`queue()`, against the same two
 * calls made as `bench/v4l2_ratios.ts` makes them with raw FFI (one long-lived `v4l2_buffer`).
 * No driver is involved: libc's `ioctl` symbol is replaced, for this process only, by a
 * JavaScript stand-in for vivid's queue (DQBUF hands back the oldest queued index with
 * `bytesused`, `sequence` and a timestamp filled in; QBUF appends the index). Both sides call
 * the same stand-in through the same symbol table, so the difference between the two rows is the
 * library's own work: building and parsing `v4l2_buffer`, the seam's checks, the result object.
 * The "nothing done" rows time one DQBUF that finds no buffer (`EAGAIN`), as a loop that polls
 * faster than the camera (`VideoQueue.next()`, `Pipeline`'s drain) makes one per frame.
 * The real kernel's share is in `bench/v4l2_ratios.sh` (RESULTS.md, "V4L2 capture from vivid").
 *
 *   deno run --allow-ffi --allow-read bench/v4l2_overhead.ts [--frames 120 --rounds 3 --warmup 20]
 *   deno run --allow-ffi --allow-read bench/v4l2_overhead.ts --batch 2000 --rounds 11
 *
 * Without `--batch`, frames are timed one by one with `performance.now()` as the guest times
 * them, few enough that V8 runs them mostly unoptimized, as in the guest; `--batch N` times N
 * frames at a time in this thread's CPU time (steady state, or the interpreter alone with
 * `--v8-flags=--no-sparkplug,--no-maglev,--no-turbofan`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadLibc } from "../src/ffi/load.ts";
import { LinuxKernel } from "../src/kernel/linux.ts";
import { adoptDmaBuf } from "../src/dmabuf/buffer.ts";
import { openVideoDevice } from "../src/v4l2/mod.ts";
import { MFD_CLOEXEC } from "../src/uapi/constants.ts";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  v4l2_buffer as B,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  v4l2_capability,
  v4l2_format,
  V4L2_MEMORY_DMABUF,
  v4l2_pix_format,
  VIDIOC_DQBUF,
  VIDIOC_G_FMT,
  VIDIOC_QBUF,
  VIDIOC_QUERYCAP,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMON,
} from "../src/uapi/videodev2.ts";

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    frames: { type: "string", default: "120" },
    warmup: { type: "string", default: "20" },
    rounds: { type: "string", default: "3" },
    batch: { type: "string" },
  },
});
const BUFFERS = 4, W = 640, H = 360, SIZEIMAGE = W * H * 2;

// The stand-in for the driver, reached through libc's `ioctl` slot.
const libc = loadLibc();
const queued: number[] = [];
let sequence = 0;
/** While set, DQBUF finds nothing done (EAGAIN), as when user space polls faster than frames. */
let empty = false;
// deno-lint-ignore no-explicit-any
const symbols = libc.symbols as any;
// Views of the callers' structs, made once per pointer object (both sides reuse theirs).
const views = new WeakMap<Deno.PointerObject, DataView>();
const view = (p: Deno.PointerObject, size: number) => {
  let d = views.get(p);
  // SAFETY: `p` addresses a live ArrayBuffer of at least `size` bytes owned by the caller.
  if (!d) views.set(p, d = new DataView(Deno.UnsafePointerView.getArrayBuffer(p, size)));
  return d;
};
symbols.ioctl = (_fd: number, request: number, p: Deno.PointerObject): number => {
  switch (request) {
    case VIDIOC_QUERYCAP: {
      const caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
      view(p, v4l2_capability.size).setUint32(v4l2_capability.capabilities, caps, true);
      return 0;
    }
    case VIDIOC_G_FMT:
      view(p, v4l2_format.size).setUint32(
        v4l2_format.fmt + v4l2_pix_format.sizeimage,
        SIZEIMAGE,
        true,
      );
      return 0;
    case VIDIOC_QBUF:
      queued.push(view(p, B.size).getUint32(B.index, true));
      return 0;
    case VIDIOC_DQBUF: {
      if (empty || queued.length === 0) {
        libc.errno[0] = 11;
        return -1;
      }
      const d = view(p, B.size);
      const s = sequence++;
      d.setUint32(B.index, queued.shift()!, true);
      d.setUint32(B.bytesused, SIZEIMAGE, true);
      d.setUint32(B.length, SIZEIMAGE, true);
      d.setUint32(B.sequence, s, true);
      d.setBigInt64(B.timestamp, BigInt(1000 + (s >> 4)), true);
      d.setBigInt64(B.timestamp + 8, BigInt((s * 33_333) % 1_000_000), true);
      return 0;
    }
    case VIDIOC_REQBUFS:
    case VIDIOC_STREAMON:
      return 0;
  }
  libc.errno[0] = 25;
  return -1;
};

// A kernel made after the swap picks the stand-in up (LinuxKernel keeps the symbol it found).
const k = new LinuxKernel();
// Buffers: memfds stand in for dma-bufs (queue() reads only their fd and size).
const bufs = Array.from({ length: BUFFERS }, () => {
  const fd = k.memfdCreate("v4l2_bench", MFD_CLOEXEC);
  k.ftruncate(fd, SIZEIMAGE);
  return adoptDmaBuf(k, fd);
});
const dev = openVideoDevice("/dev/null", { kernel: k });
const q = dev.queue("capture");
q.requestBuffers(BUFFERS, "dmabuf");
bufs.forEach((b, i) => q.queue(i, b));
q.streamOn();

// Raw FFI, as bench/v4l2_ratios.ts's runRaw does it.
const c = libc.symbols;
const vfd = dev.fd;
const ab = new ArrayBuffer(B.size), v = new DataView(ab), p = Deno.UnsafePointer.of(ab);
const qbuf = (i: number) => {
  new Uint8Array(ab).fill(0);
  v.setUint32(B.index, i, true);
  v.setUint32(B.type, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
  v.setUint32(B.memory, V4L2_MEMORY_DMABUF, true);
  v.setInt32(B.m, bufs[i].fd, true);
  v.setUint32(B.length, SIZEIMAGE, true);
  if (c.ioctl(vfd, VIDIOC_QBUF, p) < 0) throw new Error("VIDIOC_QBUF");
};

// One frame each way, returning [ns DQBUF, ns QBUF] timed as bench/v4l2_ratios.ts times them.
const frame: Record<string, () => [number, number]> = {
  "raw FFI": () => {
    const a = performance.now();
    new Uint8Array(ab).fill(0);
    v.setUint32(B.type, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
    v.setUint32(B.memory, V4L2_MEMORY_DMABUF, true);
    if (c.ioctl(vfd, VIDIOC_DQBUF, p) < 0) throw new Error("VIDIOC_DQBUF");
    const m = performance.now();
    qbuf(v.getUint32(B.index, true));
    return [(m - a) * 1e6, (performance.now() - m) * 1e6];
  },
  library: () => {
    const a = performance.now();
    const b = q.dequeue()!;
    const m = performance.now();
    q.queue(b.index, bufs[b.index]);
    return [(m - a) * 1e6, (performance.now() - m) * 1e6];
  },
  "raw FFI, nothing done": () => {
    empty = true;
    const a = performance.now();
    new Uint8Array(ab).fill(0);
    v.setUint32(B.type, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
    v.setUint32(B.memory, V4L2_MEMORY_DMABUF, true);
    if (c.ioctl(vfd, VIDIOC_DQBUF, p) >= 0 || libc.errno[0] !== 11) throw new Error("no EAGAIN");
    const d = (performance.now() - a) * 1e6;
    empty = false;
    return [d, 0];
  },
  "library, nothing done": () => {
    empty = true;
    const a = performance.now();
    if (q.dequeue() !== null) throw new Error("no EAGAIN");
    const d = (performance.now() - a) * 1e6;
    empty = false;
    return [d, 0];
  },
};
// The same two calls without timing each one, for the steady state (`--batch N`).
const loop: Record<string, () => void> = {
  "raw FFI": () => {
    new Uint8Array(ab).fill(0);
    v.setUint32(B.type, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
    v.setUint32(B.memory, V4L2_MEMORY_DMABUF, true);
    if (c.ioctl(vfd, VIDIOC_DQBUF, p) < 0) throw new Error("VIDIOC_DQBUF");
    qbuf(v.getUint32(B.index, true));
  },
  library: () => {
    const b = q.dequeue()!;
    q.queue(b.index, bufs[b.index]);
  },
  "raw FFI, nothing done": () => {
    empty = true;
    new Uint8Array(ab).fill(0);
    v.setUint32(B.type, V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
    v.setUint32(B.memory, V4L2_MEMORY_DMABUF, true);
    if (c.ioctl(vfd, VIDIOC_DQBUF, p) >= 0 || libc.errno[0] !== 11) throw new Error("no EAGAIN");
    empty = false;
  },
  "library, nothing done": () => {
    empty = true;
    if (q.dequeue() !== null) throw new Error("no EAGAIN");
    empty = false;
  },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const names = Object.keys(frame);
const rows = new Map(
  names.map((n) => [n, { dq: [] as number[], q: [] as number[], both: [] as number[] }]),
);
if (opt.batch) {
  // Steady state: interleaved batches of N frames, ns per frame of this thread's CPU time
  // (CLOCK_THREAD_CPUTIME_ID: time the thread spends descheduled on a loaded host is not
  // counted), median over rounds.
  const n = Number(opt.batch);
  const rt = Deno.dlopen(libc.path, {
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  });
  const ts = new BigInt64Array(2);
  const cpuNs = () => {
    rt.symbols.clock_gettime(3, /* CLOCK_THREAD_CPUTIME_ID */ ts);
    return Number(ts[0]) * 1e9 + Number(ts[1]);
  };
  for (let r = -1; r < Number(opt.rounds); r++) {
    for (const name of names) {
      const fn = loop[name];
      const t = cpuNs();
      for (let i = 0; i < n; i++) fn();
      if (r >= 0) rows.get(name)!.both.push((cpuNs() - t) / n);
    }
  }
} else {
  // As the guest runs: a warm-up round, then interleaved rounds of N frames each timed alone;
  // per run the median frame, then the median over runs.
  const run = (name: string, frames: number) => {
    const dq: number[] = [], qq: number[] = [];
    for (let i = 0; i < frames; i++) {
      const [d, e] = frame[name]();
      dq.push(d);
      qq.push(e);
    }
    return { dq: median(dq), q: median(qq), both: median(dq.map((d, i) => d + qq[i])) };
  };
  for (const name of names) run(name, Number(opt.warmup));
  for (let r = 0; r < Number(opt.rounds); r++) {
    for (const name of names) {
      const x = run(name, Number(opt.frames)), row = rows.get(name)!;
      row.dq.push(x.dq);
      row.q.push(x.q);
      row.both.push(x.both);
    }
  }
}
console.log(
  opt.batch
    ? `steady state: batches of ${opt.batch} frames, ${opt.rounds} interleaved rounds`
    : `${opt.frames} frames × ${opt.rounds} interleaved rounds after ${opt.warmup} (as the guest)`,
);
console.log("| path | ns DQBUF | ns QBUF | ns DQBUF+QBUF | × raw FFI |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const [name, r] of rows) {
  const cell = (xs: number[]) => xs.length ? median(xs).toFixed(0) : "–";
  // Each library row against the raw FFI row of the same case.
  const base = median(rows.get(name.replace(/^library/, "raw FFI"))!.both);
  console.log(
    `| ${name} | ${cell(r.dq)} | ${cell(r.q)} | ${cell(r.both)} | ${
      (median(r.both) / base).toFixed(2)
    } |`,
  );
}
