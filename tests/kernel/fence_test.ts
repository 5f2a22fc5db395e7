/**
 * Fences from user space on a real kernel with sw_sync (custom guest only: CONFIG_SW_SYNC):
 * a sw_sync fence imported into a heap buffer as a write fence gates poll, CPU access
 * (DMA_BUF_IOCTL_SYNC START blocks in another thread) and the test_driver stage (implicit sync),
 * until SW_SYNC_IOC_INC signals it.
 *
 * Ignored outside a guest; skipped with the reason where sw_sync is missing (the Debian guest).
 *
 * @module
 */
import assert from "node:assert/strict";
import { SW_SYNC_PATH, SwSyncTimeline } from "../../src/sync/sw_sync.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_WRITE,
} from "../../src/uapi/dma_buf.ts";
import { POLLIN, POLLOUT } from "../../src/uapi/constants.ts";
import { TEST_OP_INVERT } from "../../src/uapi/queue_driver.ts";
import {
  allocBuffer,
  bufinfoEntry,
  exists,
  exportSyncFile,
  hasQueue,
  importSyncFile,
  inGuest,
  inoAndCount,
  kernel,
  map,
  pollFd,
  pollUntil,
  Stage,
  syncFileStatus,
} from "./_stage.ts";

const hasSwSync = exists(SW_SYNC_PATH);
if (inGuest && !hasSwSync) {
  console.log(`fence_test: skipped: ${SW_SYNC_PATH} missing (kernel without CONFIG_SW_SYNC)`);
}
const SIZE = 64 * 1024;

Deno.test({
  name:
    "sw_sync: an imported write fence clears dma-buf POLLIN/POLLOUT, shows in bufinfo, blocks SYNC START until INC",
  ignore: !inGuest || !hasSwSync,
  async fn() {
    const k = kernel();
    const tl = new SwSyncTimeline(k);
    const buf = allocBuffer(k, SIZE);
    const { ino } = inoAndCount(k, buf);
    const fence = tl.createFence(1, "test-fence");
    const libc = Deno.dlopen(
      "libc.so.6",
      {
        // int ioctl(int, unsigned long, void *), on a helper thread
        ioctl: { parameters: ["i32", "u32", "pointer"], result: "i32", nonblocking: true },
      } as const,
    );
    try {
      assert.equal(pollFd(k, fence, POLLIN), 0, "sw_sync fence at 1, timeline at 0: pending");
      assert.equal(syncFileStatus(k, fence).status, 0);
      assert.equal(pollFd(k, buf, POLLIN | POLLOUT), POLLIN | POLLOUT);
      importSyncFile(k, buf, fence, DMA_BUF_SYNC_WRITE);
      assert.equal(pollFd(k, buf, POLLIN | POLLOUT, 100), 0, "write fence: no POLLIN, no POLLOUT");
      const info = bufinfoEntry(k, ino);
      console.log(info);
      assert.match(info, /\twrite fence:sw_sync \S+ seq 1 unsignalled/);
      const exported = exportSyncFile(k, buf, DMA_BUF_SYNC_READ);
      assert.equal(pollFd(k, exported, POLLIN), 0, "the exported sync_file waits on it too");

      // SYNC START (RW) on another thread: a `nonblocking` FFI call runs on a helper thread and
      // its promise settles when the ioctl returns, i.e. when the fence signals.
      const arg = new BigUint64Array([BigInt(DMA_BUF_SYNC_RW)]);
      const t0 = performance.now();
      const done = libc.symbols.ioctl(buf, DMA_BUF_IOCTL_SYNC, Deno.UnsafePointer.of(arg))
        .then((rc) => ({ rc, t: performance.now() }));
      const early = await Promise.race([
        done,
        new Promise((r) => setTimeout(() => r("pending"), 500)),
      ]);
      assert.equal(early, "pending", "SYNC START still blocked after 500 ms");
      const tInc = performance.now();
      tl.inc(1);
      const r = await done;
      const tDone = r.t;
      console.log(
        `SYNC START: returned ${r.rc} ${(tDone - t0).toFixed(1)} ms after the call, ` +
          `${(tDone - tInc).toFixed(1)} ms after SW_SYNC_IOC_INC`,
      );
      assert.equal(r.rc, 0);
      assert.ok(tDone - t0 >= 500);
      assert.equal(pollFd(k, exported, POLLIN), POLLIN);
      assert.equal(syncFileStatus(k, exported).status, 1);
      assert.equal(pollFd(k, buf, POLLIN | POLLOUT), POLLIN | POLLOUT);
      const after = bufinfoEntry(k, ino);
      console.log(after);
      assert.match(after, /\twrite fence:sw_sync \S+ seq 1 signalled/);
      k.close(exported);
    } finally {
      libc.close();
      k.close(fence);
      k.close(buf);
      tl.close();
    }
  },
});

Deno.test({
  name:
    "sw_sync: a read fence keeps POLLOUT off but POLLIN on; closing the timeline signals with ENOENT",
  ignore: !inGuest || !hasSwSync,
  fn() {
    const k = kernel();
    const tl = new SwSyncTimeline(k);
    const buf = allocBuffer(k, SIZE);
    const fence = tl.createFence(5);
    try {
      importSyncFile(k, buf, fence, DMA_BUF_SYNC_READ);
      assert.equal(pollFd(k, buf, POLLIN | POLLOUT), POLLIN, "read fence: POLLIN only");
      tl.inc(4);
      assert.equal(pollFd(k, fence, POLLIN), 0, "timeline at 4 < 5");
      tl.close();
      assert.equal(pollFd(k, fence, POLLIN), POLLIN);
      assert.equal(syncFileStatus(k, fence).status, -2, "closed timeline: -ENOENT");
      assert.equal(
        pollUntil(k, buf, POLLIN | POLLOUT, POLLIN | POLLOUT).revents,
        POLLIN | POLLOUT,
      );
    } finally {
      k.close(fence);
      k.close(buf);
      tl.close();
    }
  },
});

Deno.test({
  name: "sw_sync + test_driver: a stage waits for the buffer's earlier write fence (implicit sync)",
  ignore: !inGuest || !hasSwSync || !hasQueue,
  fn() {
    const k = kernel();
    const tl = new SwSyncTimeline(k);
    const st = new Stage(k);
    const buf = allocBuffer(k, SIZE);
    const { region, bytes } = map(k, buf, SIZE);
    const { ino } = inoAndCount(k, buf);
    const fence = tl.createFence(1);
    try {
      bytes.fill(0x0f);
      importSyncFile(k, buf, fence, DMA_BUF_SYNC_WRITE);
      st.queue(buf, TEST_OP_INVERT, 42);
      const held = pollFd(k, st.fd, POLLIN | POLLOUT, 300);
      assert.equal(held, POLLOUT, "the stage did not finish: it waits for the sw_sync fence");
      assert.equal(bytes[0], 0x0f, "and did not touch the buffer");
      const info = bufinfoEntry(k, ino);
      console.log(info);
      assert.match(info, /\twrite fence:sw_sync \S+ seq 1 unsignalled/);
      assert.match(info, /\twrite fence:test_driver driverA seq 1 unsignalled/);
      const t0 = performance.now();
      tl.inc(1);
      const { revents, ms } = pollUntil(k, st.fd, POLLIN, POLLIN);
      console.log(
        `stage done ${ms.toFixed(1)} ms after SW_SYNC_IOC_INC (${
          (performance.now() - t0).toFixed(1)
        })`,
      );
      assert.equal(revents, POLLIN);
      const d = st.dequeue();
      assert.equal(d.status, 0);
      assert.equal(d.cookie, 42);
      assert.equal(bytes[0], 0xf0);
      assert.equal(d.checksum, 0xf0 * SIZE);
    } finally {
      k.munmap(region);
      k.close(fence);
      k.close(buf);
      st.close();
      tl.close();
    }
  },
});

Deno.test({
  name:
    "sw_sync + test_driver: closing a stage whose buffer waits for a fence returns promptly and cancels it",
  ignore: !inGuest || !hasSwSync || !hasQueue,
  fn() {
    const k = kernel();
    const tl = new SwSyncTimeline(k);
    const st = new Stage(k);
    const buf = allocBuffer(k, SIZE);
    const fence = tl.createFence(1);
    let sync = -1;
    try {
      importSyncFile(k, buf, fence, DMA_BUF_SYNC_WRITE);
      st.queue(buf, TEST_OP_INVERT, 1);
      assert.equal(pollFd(k, st.fd, POLLIN, 100), 0, "waiting for the sw_sync fence");
      // Both fences (sw_sync + the stage's) in one sync_file; its status after both signalled
      // is the first error among them.
      sync = exportSyncFile(k, buf, DMA_BUF_SYNC_WRITE);
      const t0 = performance.now();
      st.close();
      const ms = performance.now() - t0;
      console.log(`close() of a stage waiting on a fence took ${ms.toFixed(1)} ms`);
      assert.equal(inoAndCount(k, buf).count, 1, "the stage dropped its reference");
      assert.equal(pollFd(k, fence, POLLIN), 0, "the sw_sync fence is still pending");
      tl.inc(1);
      assert.equal(pollUntil(k, sync, POLLIN, POLLIN).revents, POLLIN);
      const { status, numFences } = syncFileStatus(k, sync);
      console.log(`merged sync_file: status ${status}, ${numFences} fences`);
      assert.equal(status, -125, "the stage's fence carries ECANCELED");
    } finally {
      if (sync >= 0) k.close(sync);
      k.close(fence);
      k.close(buf);
      tl.close();
    }
  },
});
