/**
 * Fences through the public API on the simulated kernel: sync_file export/import, waits with
 * timeout and abort, DmaBuf.wait, the readiness of a buffer a stage is writing.
 */
import assert from "node:assert/strict";
import { DmaBuf, openHeap, SyncFile } from "../mod.ts";
import { openStage } from "../src/pipeline/mod.ts";
import { SimMachine } from "../src/sim/mod.ts";
import { SwSyncTimeline } from "../src/sync/sw_sync.ts";

function setup() {
  const m = new SimMachine();
  const kernel = m.process();
  const heap = openHeap("system", { kernel });
  const stage = openStage("/dev/driverA", { op: "invert", kernel });
  return { m, kernel, heap, stage };
}

Deno.test("DmaBuf.exportSyncFile() while a stage writes: pending, then signalled", async () => {
  const { heap, stage } = setup();
  using buf = heap.allocate(65536);
  stage.queue(buf, 1);
  using writers = buf.exportSyncFile("read");
  using all = buf.exportSyncFile("write");
  assert.equal(writers.poll(), false);
  assert.equal(all.poll(), false);
  await writers.wait({ timeout: 5000 });
  assert.equal(writers.poll(), true);
  assert.equal(all.poll(), true);
  assert.equal(stage.dequeue()?.checksum, 0xff * 65536);
  stage.close();
  heap.close();
});

Deno.test("DmaBuf.wait() resolves once the writer is done; read and write agree here", async () => {
  const { heap, stage } = setup();
  using buf = heap.allocate(4096);
  await buf.wait("write", { timeout: 1000 }); // nothing pending
  stage.queue(buf, 1);
  assert.equal(stage.poll().readable, false);
  await buf.wait("read");
  assert.equal(stage.poll().readable, true, "wait() resolved before the stage finished");
  await buf.wait("write", { timeout: 1000 });
  using map = buf.map();
  assert.equal(map.read((b) => b[123]), 0xff);
  stage.dequeue();
  stage.close();
  heap.close();
});

Deno.test("wait() with a timeout throws TimedOut; with an aborted signal, the AbortError", async () => {
  const { heap, stage, kernel } = setup();
  const fds = kernel.readDir("/proc/self/fd").length; // with the heap and the stage
  using buf = heap.allocate(4096);
  using other = heap.allocate(4096);
  stage.queue(buf, 1);
  using fence = buf.exportSyncFile("write");
  // Timeout 0 on a pending fence (the worker has not run yet: no await since the queue).
  await assert.rejects(fence.wait({ timeout: 0 }), (e: Error & { code?: string }) => {
    assert.ok(e instanceof Deno.errors.TimedOut);
    assert.equal(e.code, "ETIMEDOUT");
    return true;
  });
  await assert.rejects(buf.wait("read", { timeout: 0 }), Deno.errors.TimedOut);
  const ac = new AbortController();
  const waiting = other.wait("write", { signal: ac.signal }); // ready at once: resolves
  await waiting;
  other.importSyncFile(fence, "write");
  const p = other.wait("write", { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, { name: "AbortError" });
  await assert.rejects(fence.wait({ signal: ac.signal }), { name: "AbortError" });
  await assert.rejects(buf.wait("read", { timeout: -1 }), { code: "EINVAL" });
  await fence.wait();
  await other.wait("write", { timeout: 1000 });
  assert.equal(stage.dequeue()?.cookie, 1);
  stage.close();
  heap.close();
  // The heap and the stage are closed; the three `using` objects above are still open.
  assert.equal(kernel.readDir("/proc/self/fd").length, fds - 2 + 3);
});

Deno.test("importSyncFile() makes another buffer's CPU access wait for the fence", () => {
  const { heap, stage } = setup();
  using a = heap.allocate(4096);
  using b = heap.allocate(4096);
  stage.queue(a, 1);
  using fence = a.exportSyncFile("write");
  b.importSyncFile(fence, "write");
  assert.match(b.info().exporter, /system/);
  // SYNC START on b waits (the simulated kernel runs the stage's pending work meanwhile).
  b.beginCpuAccess("read");
  b.endCpuAccess("read");
  assert.equal(fence.poll(), true);
  assert.equal(stage.poll().readable, true);
  stage.dequeue();
  stage.close();
  heap.close();
});

Deno.test("SyncFile: from() checks the fd, methods after close() throw BadResource", () => {
  const { heap, kernel } = setup();
  using buf = heap.allocate(4096);
  const fence = buf.exportSyncFile();
  assert.throws(() => SyncFile.from(buf.fd, { kernel }), { code: "EINVAL" });
  assert.throws(() => SyncFile.from(999, { kernel }), Deno.errors.BadResource);
  const borrowed = SyncFile.from(fence.fd, { kernel, owned: false });
  assert.equal(borrowed.poll(), true);
  borrowed.close(); // borrowed: the fd stays open
  assert.equal(fence.poll(), true);
  fence.close();
  fence.close();
  assert.throws(() => fence.poll(), Deno.errors.BadResource);
  assert.throws(() => buf.importSyncFile(fence), Deno.errors.BadResource);
  assert.throws(() => buf.exportSyncFile("readwrite" as "read"), { code: "EINVAL" });
  assert.throws(() => buf.importSyncFile({} as SyncFile), { code: "EINVAL" });
  heap.close();
});

Deno.test("DmaBuf.from() wraps a buffer a stage holds; closing our fd keeps it alive in the stage", async () => {
  const { heap, stage, kernel } = setup();
  const buf = heap.allocate(4096);
  const dup = DmaBuf.from(kernel.fcntl(buf.fd, 1030, 0), { kernel });
  stage.queue(buf, 5);
  buf.close();
  await stage.wait("readable", { timeout: 5000 });
  assert.equal(stage.dequeue()?.checksum, 0xff * 4096);
  assert.equal(dup.info().count, 1);
  dup.close();
  stage.close();
  heap.close();
});

Deno.test("SyncFile.info() names a stage's fence and reports -ECANCELED when the stage is closed", () => {
  const { heap, stage } = setup();
  using buf = heap.allocate(4096);
  stage.queue(buf, 1);
  using fence = buf.exportSyncFile("write");
  const before = fence.info();
  assert.equal(before.status, 0);
  assert.deepEqual(
    before.fences.map((f) => [f.driver, f.timeline, f.status, f.timestamp]),
    [["test_driver", "driverA", 0, 0]],
  );
  assert.match(before.name, /^test_driver-driverA\d+-1$/);
  stage.close(); // the queued buffer's fence signals with -ECANCELED
  const after = fence.info();
  assert.equal(after.status, -125);
  assert.equal(after.fences[0].status, -125);
  assert.ok(after.fences[0].timestamp > 0);
  heap.close();
});

Deno.test("SyncFile.merge() waits for both fences and keeps only the later point of one timeline", async () => {
  const { kernel, heap, stage } = setup();
  const t = new SwSyncTimeline(kernel);
  using buf = heap.allocate(4096);
  using sw = SyncFile.from(t.createFence(1), { kernel });
  stage.queue(buf, 1);
  using staged = buf.exportSyncFile("write");
  using both = sw.merge(staged, "both");
  assert.equal(both.info().fences.length, 2);
  assert.deepEqual(both.info().fences.map((f) => f.driver).sort(), ["sw_sync", "test_driver"]);
  await staged.wait({ timeout: 5000 });
  assert.equal(both.poll(), false, "the sw_sync fence is still pending");
  t.inc(1);
  assert.equal(both.poll(), true);
  assert.equal(both.info().status, 1);
  // Errors: a merge that was waited on takes its members' first error.
  using a = SyncFile.from(t.createFence(5), { kernel });
  using b = SyncFile.from(t.createFence(6), { kernel });
  using ab = a.merge(b);
  assert.match(ab.info().name, /^sw_sync-deno\d+-6$/, "one timeline: the later point only");
  assert.equal(ab.poll(), false);
  t.close();
  assert.deepEqual([a.info().status, b.info().status, ab.info().status], [-2, -2, -2]);
  assertThrows(() => a.merge(ab, "x".repeat(32)), "EINVAL");
  stage.close();
  heap.close();
});

function assertThrows(fn: () => unknown, code: string) {
  assert.throws(fn, (e: unknown) => (e as { code?: string }).code === code);
}
