/**
 * The `./v4l2` sub-export on the simulated kernel's vivid: the examples run unchanged, a
 * capture → test driver → output pipeline passes every buffer by fd (the simulated kernel
 * counts the payload bytes user space copies: none), the QBUF hint, the output's flush, and
 * vb2's read()-emulation trap.
 */
import assert from "node:assert/strict";
import { openHeap } from "../mod.ts";
import {
  createBufferPool,
  openStage,
  Pipeline,
  type PipelineStageResult,
  type StageResult,
} from "../src/pipeline/mod.ts";
import { createSimMachine } from "../src/sim/mod.ts";
import {
  findVideoDevice,
  openVideoDevice,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_OUTPUT,
  VideoStage,
  type VideoStageResult,
} from "../src/v4l2/mod.ts";
import type { ErrnoError } from "../src/errors.ts";
import type { DmaBuf } from "../src/dmabuf/buffer.ts";
import { POLLIN } from "../src/uapi/constants.ts";
import type { Kernel, UserBuffer } from "../src/kernel/types.ts";
import { v4l2_buffer, VIDIOC_DQBUF } from "../src/uapi/videodev2.ts";

async function runExample(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-read", "--allow-env", ...args],
    env: { DMABUF_KERNEL: "simulated", NO_COLOR: "1" },
    cwd: new URL("..", import.meta.url),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text);
  return text;
}

const canRun = Deno.permissions.querySync({ name: "run" }).state === "granted";

Deno.test({
  name: "examples/camera.ts runs unchanged on the simulated vivid",
  ignore: !canRun,
  async fn() {
    const text = await runExample(["examples/camera.ts", "6", "--pattern", "100% Green"]);
    assert.match(text, /camera: \/dev\/video0: vivid "vivid"/);
    // 100% green, YUYV 144,54,144,34 in every 4 bytes of 640x360: checksum of the frame.
    const sum = (144 + 54 + 144 + 34) * (640 * 360 / 2);
    for (let f = 0; f < 6; f++) {
      assert.match(
        text,
        new RegExp(
          `frame ${f}: sequence \\d+, bytesused 460800, .*checksum 0x${
            sum.toString(16).padStart(8, "0")
          }`,
        ),
      );
    }
    assert.match(text, /6 frames in .* 4 distinct buffer inodes/);
  },
});

Deno.test({
  name: "examples/loopback.ts gets the CPU-written frame back on the simulated vivid",
  ignore: !canRun,
  async fn() {
    const text = await runExample(["examples/loopback.ts", "3"]);
    assert.match(text, /3\/3 captured frames equal the frame written by the CPU/);
  },
});

Deno.test("capture → test driver (invert) → output: one Pipeline, no user-space payload copy", async () => {
  // The default (non-coherent) board in strict mode: only user space's violations would throw.
  const m = createSimMachine({ sanitizer: "strict" });
  const k = m.process();
  using cap = findVideoDevice({ kernel: k, capabilities: V4L2_CAP_VIDEO_CAPTURE });
  using out = findVideoDevice({ kernel: k, capabilities: V4L2_CAP_VIDEO_OUTPUT });
  cap.setControl("Test Pattern", "100% Red");
  const cfmt = cap.queue("capture").getFormat(), ofmt = out.queue("output").getFormat();
  using heap = openHeap("system", { kernel: k });
  using pool = createBufferPool(heap, {
    count: 3,
    size: Math.max(cfmt.sizeimage, ofmt.sizeimage),
    name: "chain",
  });
  using a = new VideoStage(cap.queue("capture"), { count: 3 });
  using b = openStage("/dev/driverA", { op: "invert", kernel: k });
  using c = new VideoStage(out.queue("output"), { count: 3 });
  const copiedBefore = k.payloadBytesCopied!();
  const inodes = new Map<number, number>();
  const seqs: number[] = [];
  const stats = await new Pipeline<PipelineStageResult>([a, b, c], pool).run({
    frames: 7,
    consume(f) {
      const [r0, r1, r2] = f.results as [VideoStageResult, StageResult, VideoStageResult];
      seqs.push(r0.sequence);
      assert.equal(r0.bytesused, cfmt.sizeimage);
      // vivid wrote red (81,90,81,239), driver A inverted it; the CPU reads the same pages.
      const bytes = f.buffer.mapping.read((x) => Array.from(x.subarray(0, 4)));
      assert.deepEqual(bytes, [255 - 81, 255 - 90, 255 - 81, 255 - 239]);
      const sum = f.buffer.mapping.read((x) => x.reduce((s, v) => s + v, 0));
      assert.equal(sum % 2 ** 32, r1.checksum);
      assert.equal(r2.status, 0);
      inodes.set(f.buffer.index, f.buffer.buffer.info().inode);
    },
  });
  assert.equal(stats.frames, 7);
  assert.equal(pool.available, 3);
  assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), `sequences ${seqs}`);
  assert.equal(new Set(inodes.values()).size, inodes.size);
  // The CPU reads above go through the mapping, not copy_to_user: no payload byte was copied.
  assert.equal(k.payloadBytesCopied!() - copiedBefore, 0);
  // vivid fills each capture buffer through vb2-vmalloc's kernel vmap and nobody calls
  // dma_buf_end_cpu_access() (videobuf2-vmalloc.c has no prepare/finish); driver A's
  // map_attachment finds those lines dirty. The sanitizer names vivid, not the program.
  assert.equal(m.coherencyReportCount(), 7, "one per frame driver A took from vivid");
  for (const r of m.coherencyReports) {
    assert.equal(r.kind, "cpu-write-not-cleaned");
    assert.equal(r.writer, "vivid (vb2-vmalloc)");
    assert.match(r.text, /vivid \(vb2-vmalloc\) wrote \d+ bytes at 0x0 through a kernel vmap/);
  }
});

Deno.test("a camera pipeline aborted with every buffer in vb2, then restarted on the same VideoStage, gets them all back", async () => {
  const k = createSimMachine().process();
  using cap = findVideoDevice({ kernel: k, capabilities: V4L2_CAP_VIDEO_CAPTURE });
  const fmt = cap.queue("capture").getFormat();
  using heap = openHeap("system", { kernel: k });
  using pool = createBufferPool(heap, { count: 4, size: fmt.sizeimage, name: "camera" });
  // A VideoStage that can withhold DQBUF (a slow consumer of the camera), so that the abort
  // deterministically finds every buffer in vb2, whatever the frame timing.
  let hold = true, queuedCount = 0;
  let queued = Promise.withResolvers<void>();
  class SlowVideoStage extends VideoStage {
    override tryQueue(buffer: DmaBuf, cookie: number): boolean {
      const ok = super.tryQueue(buffer, cookie);
      if (ok && ++queuedCount === 4) queued.resolve();
      return ok;
    }
    override dequeue(): VideoStageResult | null {
      return hold ? null : super.dequeue();
    }
  }
  const stage = new SlowVideoStage(cap.queue("capture"), { count: 4 });
  const pipeline = new Pipeline<VideoStageResult>([stage], pool);
  const ac = new AbortController();
  const aborted = pipeline.run({ frames: 100, signal: ac.signal });
  await queued.promise;
  ac.abort();
  await assert.rejects(aborted, { name: "AbortError" });
  assert.equal(pool.available, 0, "all four buffers are in vb2");
  // The restart takes back what the aborted run left queued as vivid fills it.
  hold = false;
  const seqs: number[] = [];
  const stats = await pipeline.run({
    frames: 5,
    consume: (f) => void seqs.push(f.results[0].sequence),
  });
  assert.equal(stats.frames, 5);
  assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), `sequences ${seqs}`);
  assert.equal(pool.available, 4);
  // Aborted again with everything in vb2, then the stage closed: vb2 lets go, the pool has all.
  hold = true;
  queuedCount = 0;
  queued = Promise.withResolvers<void>();
  const ac2 = new AbortController();
  const run2 = pipeline.run({ frames: 100, signal: ac2.signal });
  await queued.promise;
  ac2.abort();
  await assert.rejects(run2, { name: "AbortError" });
  assert.equal(pool.available, 0);
  stage.close();
  assert.equal(pool.available, 4, "a closed VideoStage still holds pool buffers");
});

Deno.test("QBUF of a buffer smaller than sizeimage: EINVAL with the sizes in the hint", () => {
  const k = createSimMachine().process();
  using dev = openVideoDevice("/dev/video0", { kernel: k });
  const q = dev.queue("capture");
  using heap = openHeap("system", { kernel: k });
  using small = heap.allocate(4096);
  q.requestBuffers(1, "dmabuf");
  assert.throws(() => q.queue(0, small), (e: ErrnoError) => {
    assert.equal(e.code, "EINVAL");
    assert.equal(e.syscall, "ioctl(VIDIOC_QBUF)");
    assert.equal(e.path, "/dev/video0");
    assert.match(e.message, /Plane 0 is 4096 bytes, smaller than the format's sizeimage 460800/);
    return true;
  });
  q.requestBuffers(0);
});

Deno.test("dequeue() reads the v4l2_buffer the kernel wrote: timeval fields wider than 32 bits", async () => {
  const sim = createSimMachine().process();
  // The simulated kernel, with DQBUF's timestamp overwritten after the driver filled the struct:
  // tv_sec beyond 2^32 and the largest tv_usec, to check the decoding of both 64-bit halves.
  const sec = 2 ** 33 + 12_345, usec = 999_999;
  const k = new Proxy(sim, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key === "ioctl") {
        return (...args: Parameters<Kernel["ioctl"]>) => {
          const r = target.ioctl(...args);
          if (args[1] === VIDIOC_DQBUF && args[2]) {
            args[2].view.setBigInt64(v4l2_buffer.timestamp, BigInt(sec), true);
            args[2].view.setBigInt64(v4l2_buffer.timestamp + 8, BigInt(usec), true);
          }
          return r;
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  using dev = openVideoDevice("/dev/video0", { kernel: k });
  const q = dev.queue("capture");
  const size = q.getFormat().sizeimage;
  using heap = openHeap("system", { kernel: k });
  const bufs = [heap.allocate(size), heap.allocate(size)];
  try {
    q.requestBuffers(2, "dmabuf");
    bufs.forEach((b, i) => q.queue(i, b));
    q.streamOn();
    const b = await q.next({ timeout: 10_000 });
    assert.equal(b.timestampUs, sec * 1e6 + usec);
    assert.equal(b.bytesused, size);
    // length: the dma-buf's size (the heap rounds up to pages), as QBUF gave it.
    const length = bufs[b.index].size;
    assert.ok(length >= size);
    assert.equal(b.length, length);
    assert.deepEqual(b.planes, [{ bytesused: size, length, dataOffset: 0 }]);
    assert.equal(b.sequence, 0);
    assert.ok(b.index === 0 || b.index === 1);
    q.streamOff();
    q.requestBuffers(0);
  } finally {
    for (const b of bufs) b.close();
  }
});

Deno.test("dequeue() with nothing done: null, from -EAGAIN or from a kernel that throws EAGAIN", () => {
  const sim = createSimMachine().process();
  // A kernel that ignores `expected` (written before the parameter existed) throws EAGAIN.
  const throwing = new Proxy(sim, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key === "ioctl") {
        return (fd: number, request: number, arg: UserBuffer | null, name?: string) =>
          target.ioctl(fd, request, arg, name);
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  // The simulated kernel returns the expected errno, as LinuxKernel does.
  const fd = sim.open("/dev/video0", 0);
  assert.equal(sim.ioctl(fd, VIDIOC_DQBUF, sim.userBuffer(88), "DQBUF", 22), -22); // not streaming
  sim.close(fd);
  for (const k of [sim, throwing]) {
    using dev = openVideoDevice("/dev/video0", { kernel: k });
    const q = dev.queue("capture");
    using heap = openHeap("system", { kernel: k });
    using buf = heap.allocate(q.getFormat().sizeimage);
    q.requestBuffers(1, "dmabuf");
    q.queue(0, buf);
    q.streamOn();
    assert.equal(q.dequeue(), null); // vivid has not filled the buffer yet
    q.streamOff();
    // Not streaming: EINVAL still throws, named.
    assert.throws(() => q.dequeue(), (e: ErrnoError) => {
      assert.equal(e.code, "EINVAL");
      assert.equal(e.syscall, "ioctl(VIDIOC_DQBUF)");
      return true;
    });
    q.requestBuffers(0);
  }
});

Deno.test("a poll(POLLIN) on a capture fd without buffers owns the queue until it closes", () => {
  const k = createSimMachine().process();
  using a = openVideoDevice("/dev/video0", { kernel: k });
  {
    using b = openVideoDevice("/dev/video0", { kernel: k });
    k.poll([{ fd: b.fd, events: POLLIN }], 0); // starts vb2's read() emulation
    assert.throws(() => a.queue("capture").requestBuffers(2), (e: ErrnoError) => {
      assert.equal(e.code, "EBUSY");
      assert.match(e.message, /read\(\) emulation/);
      return true;
    });
  }
  assert.equal(a.queue("capture").requestBuffers(2), 2);
  a.queue("capture").requestBuffers(0);
});

Deno.test("VideoStage.flush() gives back the frame vivid's output keeps showing", async () => {
  const k = createSimMachine().process();
  using out = openVideoDevice("/dev/video1", { kernel: k });
  using heap = openHeap("system", { kernel: k });
  const size = out.queue("output").getFormat().sizeimage;
  using buf = heap.allocate(size);
  using stage = new VideoStage(out.queue("output"), { count: 2 });
  assert.equal(stage.tryQueue(buf, 42), true);
  await new Promise((r) => setTimeout(r, 100)); // a few output frame periods
  assert.equal(stage.dequeue(), null, "one queued buffer stays on the output");
  assert.equal(stage.flush(), true);
  assert.deepEqual(stage.dequeue(), {
    cookie: 42,
    status: 0,
    index: 0,
    sequence: -1,
    bytesused: 0,
    flags: 0,
    flushed: true,
  });
});

Deno.test("VideoStage.flush() with a done buffer on the output returns it first, then the shown one", async () => {
  const k = createSimMachine().process();
  using out = openVideoDevice("/dev/video1", { kernel: k });
  using heap = openHeap("system", { kernel: k });
  const size = out.queue("output").getFormat().sizeimage;
  using a = heap.allocate(size);
  using b = heap.allocate(size);
  using stage = new VideoStage(out.queue("output"), { count: 2 });
  assert.equal(stage.tryQueue(a, 1), true);
  assert.equal(stage.tryQueue(b, 2), true);
  // vivid's output completes the first buffer once a second one waits behind it.
  await stage.queue.wait({ timeout: 5_000 });
  // flush() itself now meets a done buffer (VIDIOC_DQBUF succeeds inside it): it used to take it
  // back from its own list forever, spinning the thread.
  assert.equal(stage.flush(), true);
  const first = stage.dequeue()!;
  assert.deepEqual([first.cookie, first.flushed, first.index], [1, false, 0]);
  assert.ok(first.sequence >= 0);
  assert.deepEqual(stage.dequeue(), {
    cookie: 2,
    status: 0,
    index: 1,
    sequence: -1,
    bytesused: 0,
    flags: 0,
    flushed: true,
  });
  assert.equal(stage.dequeue(), null);
});
