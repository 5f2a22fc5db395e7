/**
 * The public fence API (`exportSyncFile`, `SyncFile.wait`, `DmaBuf.wait`, `importSyncFile`,
 * `Stage.wait`) against buffers the real test_driver module holds in flight (module parameter
 * `hold`), and against a sw_sync fence where the kernel has one. The simulated kernel's
 * counterparts live in tests/pipeline_test.ts and tests/fence_test.ts.
 *
 * Guest-only: ignored where the module's `hold` parameter is missing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { getKernel } from "../../src/kernel/mod.ts";
import { openHeap, SyncFile } from "../../mod.ts";
import { openStage } from "../../src/pipeline/mod.ts";
import { SW_SYNC_PATH, SwSyncTimeline } from "../../src/sync/sw_sync.ts";
import { exists, hasQueue, heapName, setHold } from "./_stage.ts";

const ignore = !hasQueue || getKernel().kind !== "linux";

/** Awaits a rejection named `name`; returns how long it took (logged, not asserted). */
async function rejectsAfter(p: Promise<unknown>, name: string): Promise<number> {
  const t0 = performance.now();
  await assert.rejects(p, (e: Error) => e.name === name);
  return performance.now() - t0;
}

Deno.test({
  name:
    "public API: a held buffer's exported fence and wait() pend, time out and abort; release resolves them",
  ignore,
  async fn() {
    using heap = openHeap(heapName);
    using buf = heap.allocate(1 << 20);
    using stage = openStage("/dev/driverA", { op: "invert" });
    setHold(true);
    try {
      stage.queue(buf, 77);
      using fr = buf.exportSyncFile("read");
      using fw = buf.exportSyncFile("write");
      assert.equal(fr.poll(), false);
      assert.equal(fw.poll(), false);
      const t = [
        await rejectsAfter(buf.wait("write", { timeout: 200 }), "TimedOut"),
        await rejectsAfter(buf.wait("read", { timeout: 200 }), "TimedOut"),
        await rejectsAfter(fr.wait({ signal: AbortSignal.timeout(200) }), "TimeoutError"),
        await rejectsAfter(stage.wait("readable", { timeout: 200 }), "TimedOut"),
      ];
      console.log(`held: 4 waits rejected after ${t.map((x) => x.toFixed(0)).join(", ")} ms`);

      const t0 = performance.now();
      const waits = Promise.all([
        buf.wait("write", { timeout: 10_000 }).then(() => performance.now() - t0),
        fr.wait({ timeout: 10_000 }).then(() => performance.now() - t0),
        stage.wait("readable", { timeout: 10_000 }).then(() => performance.now() - t0),
      ]);
      let tHold = 0;
      setTimeout(() => {
        tHold = performance.now() - t0;
        setHold(false);
      }, 300);
      const [tw, tf, ts] = await waits;
      console.log(
        `hold=0 at ${tHold.toFixed(0)} ms; buf.wait("write") ${tw.toFixed(0)} ms, ` +
          `fence.wait ${tf.toFixed(0)} ms, stage.wait("readable") ${ts.toFixed(0)} ms`,
      );
      assert.ok(tw >= tHold && tf >= tHold && ts >= tHold);
      assert.equal(fr.poll(), true);
      assert.equal(fw.poll(), true);
      const r = stage.dequeue()!;
      assert.equal(r.cookie, 77);
      assert.equal(r.status, 0);
      assert.equal(r.checksum, 0xff * (1 << 20));
    } finally {
      setHold(false);
    }
  },
});

Deno.test({
  name:
    "public API: importSyncFile of a sw_sync fence gates buf.wait() and the stage until SW_SYNC_IOC_INC",
  ignore: ignore || !exists(SW_SYNC_PATH),
  async fn() {
    const k = getKernel();
    const tl = new SwSyncTimeline(k);
    try {
      using heap = openHeap(heapName);
      using buf = heap.allocate(1 << 20);
      using stage = openStage("/dev/driverB", { op: "increment" });
      using fence = SyncFile.from(tl.createFence(1, "gate"));
      buf.importSyncFile(fence, "write");
      stage.queue(buf, 5);
      await assert.rejects(buf.wait("read", { timeout: 200 }), Deno.errors.TimedOut);
      await assert.rejects(stage.wait("readable", { timeout: 200 }), Deno.errors.TimedOut);
      const t0 = performance.now();
      setTimeout(() => tl.inc(1), 250);
      await stage.wait("readable", { timeout: 10_000 });
      const ms = performance.now() - t0;
      console.log(`stage readable ${ms.toFixed(0)} ms after the wait began (INC at 250 ms)`);
      assert.ok(ms >= 240);
      await buf.wait("write", { timeout: 10_000 });
      const r = stage.dequeue()!;
      assert.equal(r.cookie, 5);
      assert.equal(r.checksum, 1 << 20, "a zeroed buffer + 1");
    } finally {
      tl.close();
    }
  },
});
