/**
 * Pipelines on the simulated kernel: zero copy (the kernel's copy counter stays at 0 and every
 * stage sees the buffer at the same DMA address, whose physical bytes are the buffer's), no
 * leaks (fds, pool, buffers, pages), abort mid-run.
 */
import assert from "node:assert/strict";
import { createBufferPool, openStage, Pipeline, type Stage } from "../src/pipeline/mod.ts";
import { openHeap } from "../mod.ts";
import { SimMachine } from "../src/sim/mod.ts";

function setup() {
  const m = new SimMachine();
  const kernel = m.process();
  const fds = () => kernel.readDir("/proc/self/fd").length;
  return { m, kernel, fds, freePages: m.freePages, fds0: fds() };
}

function threeStages(kernel: SimMachine["defaultProcess"]): Stage[] {
  return [
    openStage("/dev/driverA", { op: "invert", kernel }),
    openStage("/dev/driverB", { op: "increment", kernel }),
    openStage("/dev/driverA", { op: "invert", kernel }),
  ];
}

Deno.test("Pipeline.run() is zero-copy: no payload byte copied, the same pages at every stage", async () => {
  const { m, kernel, fds, fds0, freePages } = setup();
  const heap = openHeap("global_cma@68000000", { kernel });
  const pool = createBufferPool(heap, { count: 3, size: 1 << 20, name: "frame" });
  const stages = threeStages(kernel);
  const copied0 = kernel.payloadBytesCopied();
  const addressOf = new Map<number, number>(); // pool index → DMA address
  const seen: number[] = [];
  const stats = await new Pipeline(stages, pool).run({
    frames: 12,
    produce: (b, frame) => b.mapping.write((bytes) => bytes.fill(frame * 7 + 3)),
    consume: (f) => {
      seen.push(f.frame);
      assert.equal(f.results.length, 3);
      const addrs = new Set(f.results.map((r) => r.dmaAddress));
      assert.equal(addrs.size, 1, `stages saw different pages: ${[...addrs]}`);
      const addr = f.results[0].dmaAddress;
      assert.equal(addressOf.get(f.buffer.index) ?? addr, addr);
      addressOf.set(f.buffer.index, addr);
      // The CMA heap is contiguous and the first buffer is where the seed saw it.
      assert.ok(addr >= 0x68000000 && addr < 0x70000000, addr.toString(16));
      // invert, +1, invert: x → x − 1, on every byte.
      const want = (f.frame * 7 + 3 - 1) & 0xff;
      f.buffer.mapping.read((bytes) => {
        assert.equal(bytes[0], want);
        assert.equal(bytes[bytes.length - 1], want);
        assert.equal(bytes.every((v) => v === want), true);
        // What the device reads at that DMA address is the buffer's memory.
        assert.deepEqual(m.phys_read(addr, 64), bytes.subarray(0, 64));
      });
      assert.equal(f.results[2].checksum, want * (1 << 20));
      assert.equal(f.results[0].checksum, (0xff - (f.frame * 7 + 3 & 0xff)) * (1 << 20));
    },
  });
  assert.equal(stats.frames, 12);
  assert.deepEqual([...seen].sort((a, b) => a - b), [...Array(12).keys()]);
  assert.equal(addressOf.size, 3);
  assert.equal(new Set(addressOf.values()).size, 3);
  assert.ok(stats.fps > 0 && stats.latencyMs.min > 0 && stats.latencyMs.max >= stats.latencyMs.min);
  assert.equal(kernel.payloadBytesCopied() - copied0, 0);
  assert.equal(pool.available, 3);
  // No leaks: every fd, buffer and page comes back.
  for (const s of stages) s.close();
  pool.close();
  heap.close();
  assert.equal(fds(), fds0);
  assert.match(kernel.readText("/sys/kernel/debug/dma_buf/bufinfo"), /Total 0 objects, 0 bytes/);
  assert.equal(m.freePages, freePages);
  assert.equal(m.warningCount(), 0);
});

Deno.test("Pipeline.run() keeps at most the pool's buffers in flight (backpressure)", async () => {
  const { kernel } = setup();
  using heap = openHeap("system", { kernel });
  using pool = createBufferPool(heap, { count: 2, size: 65536 });
  const stages = threeStages(kernel);
  let maxOut = 0;
  const stats = await new Pipeline(stages, pool).run({
    frames: 10,
    produce: () => void (maxOut = Math.max(maxOut, pool.count - pool.available)),
  });
  assert.equal(stats.frames, 10);
  assert.equal(maxOut, 2);
  for (const s of stages) {
    assert.deepEqual(s.poll(), { readable: false, writable: true });
    s.close();
  }
});

Deno.test("Pipeline.run() aborted mid-run returns what the stages give back within the grace and leaks nothing", async () => {
  const { m, kernel, fds, fds0, freePages } = setup();
  const heap = openHeap("system", { kernel });
  const pool = createBufferPool(heap, { count: 4, size: 256 * 1024 });
  const stages = threeStages(kernel);
  const ac = new AbortController();
  let done = 0, outAtAbort = 0;
  const run = new Pipeline(stages, pool).run({
    frames: 1000,
    signal: ac.signal,
    consume: () => {
      if (++done !== 3) return;
      outAtAbort = pool.count - pool.available;
      ac.abort();
    },
  });
  await assert.rejects(run, { name: "AbortError" });
  assert.equal(done, 3);
  assert.ok(outAtAbort > 1, `only ${outAtAbort} buffer(s) were out when the run was aborted`);
  // A run outlives its signal by at most DRAIN_GRACE_MS: every buffer a stage gave back by then
  // is in the pool, any other is still held by a stage (a device may still be writing it; on a
  // slow TCG guest the simulated workers can take longer than the grace) until the stage closes.
  const held = pool.buffers.filter((b) => b.buffer.info().count > 2).length;
  assert.equal(pool.available + held, pool.count);
  if (held === 0) {
    for (const s of stages) assert.deepEqual(s.poll(), { readable: false, writable: true });
  }
  for (const s of stages) s.close();
  for (const b of pool.buffers) {
    // Our fd and our mapping: no stage holds a reference any more.
    assert.equal(b.buffer.info().count, 2);
  }
  pool.close();
  heap.close();
  assert.equal(fds(), fds0);
  assert.equal(m.freePages, freePages);
});

Deno.test("Pipeline.run() with an aborted signal or a failing consumer rejects, pool intact", async () => {
  const { kernel } = setup();
  using heap = openHeap("system", { kernel });
  using pool = createBufferPool(heap, { count: 3, size: 4096 });
  const stages = threeStages(kernel);
  const p = new Pipeline(stages, pool);
  await assert.rejects(p.run({ frames: 1, signal: AbortSignal.abort() }), { name: "AbortError" });
  await assert.rejects(
    p.run({
      frames: 5,
      consume: (f) => {
        if (f.frame === 1) throw new Error("consumer failed");
      },
    }),
    /consumer failed/,
  );
  assert.equal(pool.available, 3);
  await assert.rejects(p.run({ frames: -1 }), { code: "EINVAL" });
  assert.equal((await p.run({ frames: 0 })).frames, 0);
  // The same stages still work after a failed run.
  assert.equal((await p.run({ frames: 4 })).frames, 4);
  for (const s of stages) s.close();
  assert.throws(() => new Pipeline([], pool), { code: "EINVAL" });
});

Deno.test("openStage() errors: no device, unknown op; a closed stage throws BadResource", () => {
  const { kernel } = setup();
  assert.throws(() => openStage("/dev/driverC", { kernel }), Deno.errors.NotFound);
  assert.throws(() => openStage("/dev/driverA", { kernel, op: "negate" as "none" }), {
    code: "EINVAL",
  });
  const s = openStage("/dev/driverA", { kernel });
  using heap = openHeap("system", { kernel });
  using buf = heap.allocate(4096);
  assert.throws(() => s.queue(buf, -1), { code: "EINVAL" });
  assert.equal(s.dequeue(), null);
  s.close();
  s.close();
  assert.throws(() => s.queue(buf, 1), Deno.errors.BadResource);
  assert.throws(() => s.dequeue(), Deno.errors.BadResource);
});

Deno.test("Stage.queue() past the queue depth is EBUSY; tryQueue() returns false", async () => {
  const { kernel } = setup();
  using heap = openHeap("system", { kernel });
  using buf = heap.allocate(4096);
  using s = openStage("/dev/driverB", { op: "increment", kernel });
  for (let i = 0; i < 64; i++) s.queue(buf, i);
  assert.equal(s.poll().writable, false);
  assert.throws(() => s.queue(buf, 64), Deno.errors.Busy);
  assert.equal(s.tryQueue(buf, 64), false);
  // Room comes back only by DEQUEUE, not by processing.
  await s.wait("readable", { timeout: 5000 });
  assert.equal(s.poll().writable, false);
  assert.equal(s.dequeue()?.cookie, 0);
  assert.equal(s.poll().writable, true);
  assert.equal(s.tryQueue(buf, 64), true);
  await assert.rejects(s.wait("writable", { timeout: 0 }), Deno.errors.TimedOut);
  assert.equal(buf.info().count, 1 + 64);
  s.close(); // drops the 64 references
  assert.equal(buf.info().count, 1);
});

Deno.test("Pipeline.run() with a stage closed under it rejects and still returns every buffer", async () => {
  const { kernel } = setup();
  using heap = openHeap("system", { kernel });
  using pool = createBufferPool(heap, { count: 3, size: 65536 });
  const stages = threeStages(kernel);
  await assert.rejects(
    new Pipeline(stages, pool).run({
      frames: 50,
      consume: (f) => {
        if (f.frame === 2) stages[1].close();
      },
    }),
    Deno.errors.BadResource,
  );
  assert.equal(pool.available, 3);
  for (const b of pool.buffers) assert.equal(b.buffer.info().count, 2); // fd + mapping
  for (const s of stages) s.close();
});

Deno.test("a second run on a stage that is already running is EBUSY, and the first run and the pool are unharmed", async () => {
  const { kernel } = setup();
  using heap = openHeap("system", { kernel });
  using pool = createBufferPool(heap, { count: 2, size: 4096 });
  using a = openStage("/dev/driverA", { op: "invert", kernel });
  const p = new Pipeline([a], pool);
  const first = p.run({ frames: 4 });
  await assert.rejects(p.run({ frames: 4 }), { code: "EBUSY", syscall: "Pipeline.run" });
  using pool2 = createBufferPool(heap, { count: 1, size: 4096 });
  await assert.rejects(new Pipeline([a], pool2).run({ frames: 1 }), { code: "EBUSY" });
  assert.equal((await first).frames, 4);
  assert.equal(pool.available, 2);
  assert.equal(
    (await p.run({ frames: 3 })).frames,
    3,
    "the stage is free again once the run settled",
  );
});
