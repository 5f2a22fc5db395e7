/**
 * The pipeline and fence API on a real kernel whose test_driver module implements the queue ABI
 * (`src/uapi/queue_driver.ts`): the same calls as `tests/pipeline_test.ts` and
 * `tests/fence_test.ts`, without the simulated kernel's extras (no copy counter, no control over
 * when the worker runs).
 *
 * Runs only on Linux with `/dev/driverA` whose stage polls as an empty queue (POLLOUT, no
 * POLLIN); ignored elsewhere, and with a note when the module predates the queue ABI.
 *
 * @module
 */
import assert from "node:assert/strict";
import { POLLIN, POLLOUT } from "../../src/uapi/constants.ts";
import { createBufferPool, openStage, Pipeline } from "../../src/pipeline/mod.ts";
import { getKernel } from "../../src/kernel/mod.ts";
import { openHeap } from "../../mod.ts";

function probe(): string | undefined {
  if (Deno.build.os !== "linux") return "not Linux";
  let k;
  try {
    k = getKernel();
  } catch (e) {
    return (e as Error).message;
  }
  if (k.kind !== "linux") return "the kernel in use is simulated";
  try {
    using s = openStage("/dev/driverA");
    const [r] = k.poll([{ fd: s.fd, events: POLLIN | POLLOUT }], 0);
    if (r !== POLLOUT) {
      return `the module has no queue ABI (an empty stage polls 0x${r.toString(16)})`;
    }
  } catch (e) {
    return `/dev/driverA: ${(e as Error).message}`;
  }
  return undefined;
}

const skip = probe();
if (skip) console.log(`Real-kernel pipeline tests skipped: ${skip}`);

Deno.test({
  name: "Pipeline.run() on the real module: every byte − 1, one DMA address per buffer",
  ignore: skip !== undefined,
  async fn() {
    using heap = openHeap("system");
    using pool = createBufferPool(heap, { count: 3, size: 1 << 20 });
    using a = openStage("/dev/driverA", { op: "invert" });
    using b = openStage("/dev/driverB", { op: "increment" });
    using c = openStage("/dev/driverA", { op: "invert" });
    const stats = await new Pipeline([a, b, c], pool).run({
      frames: 9,
      produce: (buf, f) => buf.mapping.write((bytes) => bytes.fill(f + 10)),
      consume: (f) => {
        assert.equal(new Set(f.results.map((r) => r.dmaAddress)).size, 1);
        assert.equal(f.buffer.mapping.read((bytes) => bytes.every((v) => v === f.frame + 9)), true);
        assert.equal(f.results[2].checksum, (f.frame + 9) * (1 << 20));
      },
    });
    assert.equal(stats.frames, 9);
    assert.equal(pool.available, 3);
  },
});

Deno.test({
  name: "Fences on the real module: export a sync_file of a queued buffer, wait, dequeue",
  ignore: skip !== undefined,
  async fn() {
    using heap = openHeap("system");
    using buf = heap.allocate(1 << 20);
    using stage = openStage("/dev/driverA", { op: "invert" });
    stage.queue(buf, 3);
    using fence = buf.exportSyncFile("read");
    await fence.wait({ timeout: 5000 });
    assert.equal(fence.poll(), true);
    await buf.wait("write", { timeout: 5000 });
    await stage.wait("readable", { timeout: 5000 });
    const r = stage.dequeue()!;
    assert.equal(r.cookie, 3);
    assert.equal(r.checksum, 0xff * (1 << 20));
  },
});

Deno.test({
  name: "pollAsync on the real kernel: timeout gives zeros, an abort rejects promptly",
  ignore: skip !== undefined,
  async fn() {
    const k = getKernel();
    using stage = openStage("/dev/driverA");
    assert.deepEqual(await k.pollAsync([{ fd: stage.fd, events: POLLIN }], 50), [0]);
    // Nothing is queued, so only the signal can end this wait.
    await assert.rejects(stage.wait("readable", { signal: AbortSignal.timeout(100) }), {
      name: "TimeoutError",
    });
    await assert.rejects(stage.wait("readable", { timeout: 50 }), Deno.errors.TimedOut);
  },
});
