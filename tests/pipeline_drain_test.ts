/**
 * Buffers a stage still holds when an aborted `Pipeline.run` settles come back to the pool:
 * when the stage gives them back (the next `tryAcquire`/`acquire`/`run` takes them), or at once
 * when the stage is closed. With a deterministic hold, on the simulated kernel and on Linux: an
 * unsignalled sw_sync fence on a buffer keeps the queue driver from processing it (implicit
 * sync, as a DRM scheduler job's dependency) until the test signals it. No timed assertion: a
 * wait that would never end shows as a pool counter or a `tryAcquire` that is wrong.
 */
import assert from "node:assert/strict";
import {
  type BufferPool,
  createBufferPool,
  openStage,
  Pipeline,
  type PipelineStage,
  type Stage,
} from "../src/pipeline/mod.ts";
import { openHeap, SyncFile } from "../mod.ts";
import { SimMachine } from "../src/sim/mod.ts";
import { SW_SYNC_PATH, SwSyncTimeline } from "../src/sync/sw_sync.ts";
import { getKernel, type Kernel } from "../src/kernel/mod.ts";
import { exists, hasQueue } from "./kernel/_stage.ts";

/** A kernel to run on; `machine` for the simulated one (its page and fd counters). */
interface Env {
  kernel: Kernel;
  machine?: SimMachine;
}

// Every test runs on the simulated kernel, and on Linux too where the test driver module has the
// queue ABI and sw_sync exists (the custom and arm64 guests): the real module honours the fence
// the same way (implicit sync at TEST_QUEUE).
const linux = getKernel().kind === "linux" && hasQueue && exists(SW_SYNC_PATH);
const KERNELS: [string, () => Env][] = [
  ["simulated", () => {
    const machine = new SimMachine();
    return { kernel: machine.process(), machine };
  }],
  ...(linux ? [["linux", () => ({ kernel: getKernel() })] as [string, () => Env]] : []),
];

function kernelTest(name: string, fn: (env: Env) => Promise<void>): void {
  for (const [kind, make] of KERNELS) Deno.test(`${name} (${kind})`, () => fn(make()));
}

/**
 * A pool of 3 on `stageCount` stages; frame 1 carries an unsignalled fence, so the first stage
 * cannot give it back before the fence signals (or the stage closes) — long after `run` has
 * settled. The run is aborted once frame 0 is consumed and frame 1 is in the first stage, at
 * whichever of two points comes first (the order depends on how fast the driver's worker is:
 * the simulated one runs after the queueing call returns, Linux's may finish frame 0 before the
 * run dequeues):
 * - the `produce` of frame 2: called only in a turn of the run's loop after the one that queued
 *   frame 1 (one buffer enters per turn), and on one stage only after frame 0 was consumed;
 * - otherwise the run is waiting in `poll` for frame 1, with frame 0 consumed before frame 1 was
 *   produced: the abort comes after `produce(1)` returned and every microtask after it ran (the
 *   run's queueing of frame 1 is among them; its next real wait is the poll).
 * On one stage, so, only frame 1's buffer is held; on several, frame 0 may still be in a later
 * stage when `produce(2)` aborts, and comes back within the grace or is left there too.
 */
async function abortedWithHeldBuffers(env: Env, stageCount = 1) {
  const { kernel, machine: m } = env;
  const fds0 = m ? kernel.readDir("/proc/self/fd").length : 0;
  const freePages = m?.freePages;
  const heap = openHeap("system", { kernel });
  const pool = createBufferPool(heap, { count: 3, size: 65536 });
  const stages: Stage[] = [];
  for (let i = 0; i < stageCount; i++) {
    stages.push(openStage(i % 2 ? "/dev/driverB" : "/dev/driverA", { op: "invert", kernel }));
  }
  const timeline = new SwSyncTimeline(kernel);
  const ac = new AbortController();
  const pipeline = new Pipeline(stages, pool);
  let consumed0 = false, produced1 = false;
  const abortSoon = () => {
    // After the microtasks that queue frame 1 (a macrotask boundary, not a time).
    if (consumed0 && produced1) setTimeout(() => ac.abort(), 0);
  };
  await assert.rejects(
    pipeline.run({
      frames: 100,
      signal: ac.signal,
      produce: (b, frame) => {
        if (frame === 2) ac.abort();
        if (frame !== 1) return;
        using fence = SyncFile.from(timeline.createFence(1), { kernel });
        b.buffer.importSyncFile(fence, "write");
        produced1 = true;
        abortSoon();
      },
      consume: (f) => {
        if (f.frame !== 0) return;
        consumed0 = true;
        abortSoon();
      },
    }),
    { name: "AbortError" },
  );
  const cleanup = () => {
    timeline.close();
    for (const s of stages) s.close();
    pool.close();
    heap.close();
    if (m) { // (Deno's own fds come and go on Linux; its pages are not ours to count)
      assert.equal(kernel.readDir("/proc/self/fd").length, fds0);
      assert.equal(m.freePages, freePages);
    }
  };
  const held = heldByStage(pool).filter(Boolean).length;
  assert.ok(held >= 1 && heldByStage(pool)[1], "frame 1's buffer is in the stage");
  assert.equal(pool.available + held, pool.count);
  return { kernel, pool, stages, stage: stages[0], timeline, pipeline, held, cleanup };
}

/** Whether each pool buffer is held by a stage (a reference besides our fd and mapping). */
function heldByStage(pool: BufferPool): boolean[] {
  return pool.buffers.map((b) => b.buffer.info().count > 2);
}

kernelTest(
  "Pipeline.run() aborted: buffers the stage gives back later return to the pool (tryAcquire takes them)",
  async (env) => {
    const { pool, stage, timeline, cleanup } = await abortedWithHeldBuffers(env);
    // The run has settled; frame 1's buffer is still in the stage, behind the fence.
    assert.deepEqual(heldByStage(pool), [false, true, false]);
    assert.equal(pool.available, 2);
    const got = [pool.tryAcquire(), pool.tryAcquire()];
    assert.equal(pool.tryAcquire(), undefined, "the stage still holds the third");
    timeline.inc(1); // frame 1 may go now
    await stage.wait("readable");
    // The stage has given the buffer back: it is the pool's again.
    got.push(pool.tryAcquire());
    assert.ok(got.every((b) => b !== undefined), "a buffer the stage gave back is not in the pool");
    assert.deepEqual(got.map((b) => b!.index).sort(), [0, 1, 2]);
    for (const b of got) pool.recycle(b!);
    assert.deepEqual(heldByStage(pool), [false, false, false]);
    assert.deepEqual(stage.poll(), { readable: false, writable: true });
    cleanup();
  },
);

kernelTest(
  "Pipeline.run() aborted: closing the stage returns what it held to the pool at once",
  async (env) => {
    const { pool, stages, held, cleanup } = await abortedWithHeldBuffers(env, 3);
    assert.equal(pool.available, 3 - held);
    // The drivers drop their references (and cancel the fences they added).
    for (const s of stages) s.close();
    assert.equal(pool.available, 3, "buffers a closed stage held are still out of the pool");
    assert.deepEqual(heldByStage(pool), [false, false, false]);
    cleanup();
  },
);

kernelTest(
  "BufferPool.acquire() waits for the stage of an aborted run, without a signal",
  async (env) => {
    const { pool, timeline, cleanup } = await abortedWithHeldBuffers(env);
    const mine = [pool.tryAcquire()!, pool.tryAcquire()!];
    const waiting = pool.acquire();
    timeline.inc(1);
    const b = await waiting;
    assert.equal(b.index, 1);
    pool.recycle(b);
    for (const x of mine) pool.recycle(x);
    cleanup();
  },
);

kernelTest(
  "Pipeline.run() after an aborted run on the same stages and pool gets the held buffers back",
  async (env) => {
    const { pool, stages, pipeline, timeline, cleanup } = await abortedWithHeldBuffers(env, 2);
    const seen: number[] = [];
    const stats = await pipeline.run({
      frames: 6,
      produce: (b, frame) => {
        if (frame === 0) timeline.inc(1); // only now can the first run's frames finish
        b.mapping.write((bytes) => bytes.fill(frame));
      },
      consume: (f) => {
        seen.push(f.frame);
        assert.equal(f.results.length, 2);
        f.buffer.mapping.read((bytes) => assert.equal(bytes[0], f.frame)); // inverted twice
      },
    });
    assert.equal(stats.frames, 6);
    assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4, 5]);
    assert.equal(pool.available, 3);
    assert.deepEqual(heldByStage(pool), [false, false, false]);
    for (const s of stages) assert.deepEqual(s.poll(), { readable: false, writable: true });
    cleanup();
  },
);

kernelTest(
  "BufferPool.acquire() already waiting when the run is aborted gets the buffer its stage still held",
  async (env) => {
    const { kernel } = env;
    const heap = openHeap("system", { kernel });
    const pool = createBufferPool(heap, { count: 1, size: 4096 });
    const stage = openStage("/dev/driverA", { kernel });
    const timeline = new SwSyncTimeline(kernel);
    const ac = new AbortController();
    const run = new Pipeline([stage], pool).run({
      frames: 1,
      signal: ac.signal,
      produce: (b) => {
        using fence = SyncFile.from(timeline.createFence(1), { kernel });
        b.buffer.importSyncFile(fence, "write");
      },
    });
    // The run took the only buffer synchronously; this waits for a recycle.
    const waiting = pool.acquire();
    await new Promise((resolve) => setTimeout(resolve, 0)); // the run has queued it
    ac.abort();
    await assert.rejects(run, { name: "AbortError" });
    assert.deepEqual(heldByStage(pool), [true]);
    timeline.inc(1); // the stage can finish it now; the waiting acquire polls the stage for it
    const b = await waiting;
    assert.equal(b.index, 0);
    assert.deepEqual(heldByStage(pool), [false]);
    pool.recycle(b);
    timeline.close();
    stage.close();
    pool.close();
    heap.close();
  },
);

kernelTest(
  "Pipeline.run() does not wait for buffers an earlier run left in its stages once its own frames are done",
  async (env) => {
    const { pool, stage, pipeline, cleanup } = await abortedWithHeldBuffers(env);
    // Frame 1's buffer stays behind its fence. (A frame queued on this stage would wait behind
    // it too: the driver processes in order.)
    assert.equal((await pipeline.run({ frames: 0 })).frames, 0);
    assert.equal(pool.available, 2);
    assert.deepEqual(heldByStage(pool), [false, true, false]);
    stage.close(); // still the pool's once the stage lets go
    assert.equal(pool.available, 3);
    cleanup();
  },
);

kernelTest(
  "Pipeline.run() on other stages, starved of buffers an aborted run left in a stage, waits for them",
  async (env) => {
    const { kernel, pool, timeline, cleanup } = await abortedWithHeldBuffers(env);
    const other = openStage("/dev/driverB", { op: "increment", kernel });
    const mine = [pool.tryAcquire()!, pool.tryAcquire()!]; // only the held one is left
    const run = new Pipeline([other], pool).run({ frames: 5 });
    timeline.inc(1); // the first run's stage can give its buffer back now
    const stats = await run;
    assert.equal(stats.frames, 5);
    for (const b of mine) pool.recycle(b);
    assert.equal(pool.available, 3);
    assert.deepEqual(heldByStage(pool), [false, false, false]);
    other.close();
    cleanup();
  },
);

kernelTest(
  "BufferPool.close() with buffers in a stage of an aborted run; the stage closes later",
  async (env) => {
    const { pool, stage, cleanup } = await abortedWithHeldBuffers(env);
    pool.close();
    assert.equal(pool.closed, true);
    stage.close(); // nothing to give back to a closed pool; nothing throws
    cleanup();
  },
);

kernelTest(
  "Pipeline.run() refuses a stage another run is using (EBUSY), and takes it once that run settles",
  async (env) => {
    const { kernel } = env;
    using heap = openHeap("system", { kernel });
    using pool = createBufferPool(heap, { count: 2, size: 4096 });
    using pool2 = createBufferPool(heap, { count: 2, size: 4096 });
    using a = openStage("/dev/driverA", { kernel });
    using b = openStage("/dev/driverB", { kernel });
    const first = new Pipeline([a, b], pool).run({ frames: 20 });
    await assert.rejects(new Pipeline([b], pool2).run({ frames: 1 }), (e: Error) => {
      assert.ok(e instanceof Deno.errors.Busy, `${e.name}: ${e.message}`);
      assert.equal((e as { code?: string }).code, "EBUSY");
      assert.equal((e as { path?: string }).path, "/dev/driverB");
      assert.match(
        e.message,
        /stages\[0\] is in a Pipeline run that has not settled; await it first/,
      );
      return true;
    });
    assert.equal((await first).frames, 20);
    assert.equal((await new Pipeline([b], pool2).run({ frames: 3 })).frames, 3);
    assert.equal(pool.available + pool2.available, 4);
  },
);

kernelTest(
  "BufferPool.acquire() rejects with EIO naming the stage when every buffer is in a stage of an aborted run that failed",
  async (env) => {
    const { kernel } = env;
    using heap = openHeap("system", { kernel });
    using pool = createBufferPool(heap, { count: 1, size: 4096 });
    const inner = openStage("/dev/driverA", { kernel });
    const timeline = new SwSyncTimeline(kernel);
    // A stage of another kind (the interface is public), whose dequeue can be made to fail, and
    // which says when it has the buffer: no guessing when to abort.
    const queued = Promise.withResolvers<void>();
    let broken = false;
    const stage: PipelineStage = {
      path: "/dev/flaky",
      get fd() {
        return inner.fd;
      },
      kernel,
      get closed() {
        return inner.closed;
      },
      tryQueue(buffer, cookie) {
        const ok = inner.tryQueue(buffer, cookie);
        if (ok) queued.resolve();
        return ok;
      },
      dequeue() {
        if (broken) throw new Deno.errors.Interrupted("the device went away");
        return inner.dequeue();
      },
    };
    const ac = new AbortController();
    const run = new Pipeline([stage], pool).run({
      frames: 1,
      signal: ac.signal,
      produce: (b) => {
        using fence = SyncFile.from(timeline.createFence(1), { kernel });
        b.buffer.importSyncFile(fence, "write");
      },
    });
    await queued.promise;
    ac.abort();
    await assert.rejects(run, { name: "AbortError" });
    broken = true;
    await assert.rejects(pool.acquire(), (e: Error & { code?: string }) => {
      assert.equal(e.code, "EIO");
      assert.match(
        e.message,
        /held by a stage of an aborted Pipeline\.run that cannot give it back/,
      );
      assert.match(e.message, /\/dev\/flaky \(the device went away\)/);
      assert.match(e.message, /Close the stage to return them to the pool$/);
      return true;
    });
    inner.close(); // a stage of another kind has no close hook: the pool sees `closed`
    assert.equal(pool.tryAcquire()?.index, 0);
    timeline.close();
  },
);

kernelTest("BufferPool.close() ends a pending acquire() with BadResource", async (env) => {
  const { kernel } = env;
  using heap = openHeap("system", { kernel });
  const pool = createBufferPool(heap, { count: 1, size: 4096 });
  pool.tryAcquire();
  const waiting = pool.acquire();
  pool.close();
  await assert.rejects(waiting, Deno.errors.BadResource);
});
