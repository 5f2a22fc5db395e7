/**
 * The test_driver module's queueing stages on a real kernel (ABI: src/uapi/queue_driver.ts):
 * QUEUE/DEQUEUE errnos, poll bits, what INVERT/INCREMENT leave in the buffer, the DMA address
 * both stages see, the depth limit, the write fence while a buffer is in flight, and release.
 *
 * Guest-only (tools/kernel/run.sh): ignored where /dev/driverA is missing. The module parameter
 * `hold` keeps buffers in flight deterministically; every test that sets it clears it again.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  TEST_OP_INCREMENT,
  TEST_OP_INVERT,
  TEST_OP_NONE,
  TEST_QUEUE_DEPTH,
} from "../../src/uapi/queue_driver.ts";
import { DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE } from "../../src/uapi/dma_buf.ts";
import { O_RDONLY, POLLIN, POLLOUT } from "../../src/uapi/constants.ts";
import {
  allocBuffer,
  bufinfoEntry,
  byteSum,
  exportSyncFile,
  hasQueue,
  heapName,
  HOLD_PARAM,
  inGuest,
  inoAndCount,
  kernel,
  map,
  pollFd,
  pollUntil,
  setHold,
  Stage,
  syncFileStatus,
} from "./_stage.ts";

const ignore = !hasQueue;
const SIZE = 64 * 1024;

Deno.test({
  name: "queue stage: the loaded test_driver module has the queue ABI (its `hold` parameter)",
  ignore: !inGuest,
  fn() {
    // A guest whose module lacks the queue ABI would silently ignore every test below.
    assert.ok(hasQueue, `${HOLD_PARAM} missing: the guest booted an older test_driver.ko`);
  },
});

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return "no error";
}

Deno.test({
  name: "queue stage: errnos and poll bits of an empty stage",
  ignore,
  fn() {
    const k = kernel();
    const st = new Stage(k);
    const nullFd = k.open("/dev/null", O_RDONLY);
    try {
      assert.equal(st.poll(POLLIN | POLLOUT), POLLOUT, "empty stage: POLLOUT only");
      assert.equal(code(() => st.dequeue()), "EAGAIN");
      const buf = allocBuffer(k, SIZE);
      assert.equal(code(() => st.queue(buf, 3, 1)), "EINVAL", "unknown op");
      assert.equal(code(() => st.queue(-1, TEST_OP_NONE, 1)), "EBADF");
      assert.equal(code(() => st.queue(9999, TEST_OP_NONE, 1)), "EBADF");
      assert.equal(code(() => st.queue(nullFd, TEST_OP_NONE, 1)), "EINVAL", "not a dma-buf");
      assert.equal(code(() => st.queue(st.fd, TEST_OP_NONE, 1)), "EINVAL", "not a dma-buf");
      assert.equal(code(() => k.ioctl(st.fd, 0x40205412, k.userBuffer(32))), "ENOTTY");
      assert.equal(inoAndCount(k, buf).count, 1, "failed QUEUEs took no reference");
      assert.equal(st.poll(POLLIN | POLLOUT), POLLOUT);
      k.close(buf);
    } finally {
      k.close(nullFd);
      st.close();
    }
  },
});

Deno.test({
  name: "queue stage: INVERT, INCREMENT and NONE change the bytes as the ABI says; checksums match",
  ignore,
  fn() {
    const k = kernel();
    const st = new Stage(k);
    const buf = allocBuffer(k, SIZE);
    const { region, bytes } = map(k, buf, SIZE);
    try {
      for (let i = 0; i < SIZE; i++) bytes[i] = (i * 7) & 0xff;
      const expect = Uint8Array.from(bytes);
      for (
        const [op, cookie] of [[TEST_OP_INVERT, 11], [TEST_OP_INCREMENT, 12], [TEST_OP_NONE, 13]]
      ) {
        const t0 = performance.now();
        st.queue(buf, op, cookie);
        const { revents, ms } = pollUntil(k, st.fd, POLLIN | POLLOUT, POLLIN);
        assert.equal(revents, POLLIN | POLLOUT, "done: POLLIN, and room: POLLOUT");
        const d = st.dequeue();
        console.log(
          `op ${op}: done in ${ms.toFixed(1)} ms (queue→dequeue ${
            (performance.now() - t0).toFixed(1)
          } ms), ` +
            `dma_addr 0x${d.dmaAddr.toString(16)}, checksum ${d.checksum}`,
        );
        for (let i = 0; i < SIZE; i++) {
          if (op === TEST_OP_INVERT) expect[i] ^= 0xff;
          if (op === TEST_OP_INCREMENT) expect[i] = (expect[i] + 1) & 0xff;
        }
        assert.equal(d.cookie, cookie);
        assert.equal(d.status, 0);
        assert.equal(d.fd, -1, "DEQUEUE writes fd as -1");
        assert.equal(d.op, op);
        assert.notEqual(d.dmaAddr, 0n);
        assert.deepEqual(bytes, expect, `bytes after op ${op}`);
        assert.equal(d.checksum, byteSum(expect));
        assert.equal(st.poll(POLLIN | POLLOUT), POLLOUT, "dequeued: POLLIN gone");
        assert.equal(code(() => st.dequeue()), "EAGAIN");
      }
      assert.equal(inoAndCount(k, buf).count, 2, "fd + mmap: the driver dropped its references");
    } finally {
      k.munmap(region);
      k.close(buf);
      st.close();
    }
  },
});

Deno.test({
  name: "queue stage: driverA and driverB see the same DMA address for one buffer",
  ignore,
  fn() {
    const k = kernel();
    const a = new Stage(k, "driverA");
    const b = new Stage(k, "driverB");
    const buf = allocBuffer(k, 1024 * 1024);
    try {
      a.queue(buf, TEST_OP_NONE, 1);
      assert.equal(pollUntil(k, a.fd, POLLIN, POLLIN).revents & POLLIN, POLLIN);
      const da = a.dequeue();
      b.queue(buf, TEST_OP_NONE, 2);
      assert.equal(pollUntil(k, b.fd, POLLIN, POLLIN).revents & POLLIN, POLLIN);
      const db = b.dequeue();
      console.log(
        `${heapName}: driverA 0x${da.dmaAddr.toString(16)}, driverB 0x${db.dmaAddr.toString(16)}`,
      );
      assert.equal(da.dmaAddr, db.dmaAddr);
      assert.equal(da.checksum, 0, "a fresh heap buffer is zeroed");
      if (heapName !== "system") {
        // cma=128M@0x68000000 (custom) or global_cma@68000000 (arm64): the seed's region.
        assert.ok(da.dmaAddr >= 0x68000000n && da.dmaAddr < 0x70000000n);
      }
    } finally {
      k.close(buf);
      a.close();
      b.close();
    }
  },
});

Deno.test({
  name:
    "queue stage: a held buffer carries an unsignalled write fence (export_sync_file, dma-buf poll, bufinfo); processing signals it",
  ignore,
  fn() {
    const k = kernel();
    const st = new Stage(k);
    const buf = allocBuffer(k, SIZE);
    const { ino } = inoAndCount(k, buf);
    setHold(true);
    let syncR = -1, syncW = -1;
    try {
      assert.equal(pollFd(k, buf, POLLIN | POLLOUT), POLLIN | POLLOUT, "no fences: both ready");
      st.queue(buf, TEST_OP_INVERT, 7);
      assert.equal(inoAndCount(k, buf).count, 2, "the stage holds a reference");
      syncR = exportSyncFile(k, buf, DMA_BUF_SYNC_READ);
      syncW = exportSyncFile(k, buf, DMA_BUF_SYNC_WRITE);
      assert.equal(pollFd(k, syncR, POLLIN), 0, "sync_file (READ) not signalled");
      assert.equal(pollFd(k, syncW, POLLIN), 0, "sync_file (WRITE) not signalled");
      assert.equal(syncFileStatus(k, syncR).status, 0, "SYNC_IOC_FILE_INFO: active");
      assert.equal(
        pollFd(k, buf, POLLIN | POLLOUT, 100),
        0,
        "dma-buf poll: neither POLLIN nor POLLOUT",
      );
      assert.equal(st.poll(POLLIN | POLLOUT), POLLOUT, "in flight: not done yet");
      const info = bufinfoEntry(k, ino);
      console.log(info);
      assert.match(info, /\twrite fence:test_driver driverA seq \d+ unsignalled/);

      const t0 = performance.now();
      setHold(false);
      const { revents, ms } = pollUntil(k, syncR, POLLIN, POLLIN);
      console.log(`sync_file signalled ${ms.toFixed(1)} ms after hold=0`);
      assert.equal(revents, POLLIN);
      assert.equal(pollUntil(k, st.fd, POLLIN, POLLIN).revents, POLLIN);
      assert.equal(pollFd(k, syncW, POLLIN), POLLIN);
      assert.equal(syncFileStatus(k, syncR).status, 1, "signalled without error");
      assert.equal(pollFd(k, buf, POLLIN | POLLOUT), POLLIN | POLLOUT, "dma-buf poll: both back");
      assert.match(
        bufinfoEntry(k, ino),
        /\twrite fence:test_driver driverA seq \d+ signalled/,
      );
      console.log(`fence signalled → stage POLLIN in ${(performance.now() - t0).toFixed(1)} ms`);
      assert.equal(st.dequeue().status, 0);
    } finally {
      setHold(false);
      if (syncR >= 0) k.close(syncR);
      if (syncW >= 0) k.close(syncW);
      k.close(buf);
      st.close();
    }
  },
});

Deno.test({
  name:
    `queue stage: depth ${TEST_QUEUE_DEPTH} (EBUSY, POLLOUT), FIFO order, fences chain in queue order`,
  ignore,
  fn() {
    const k = kernel();
    const st = new Stage(k);
    const buf = allocBuffer(k, 4096);
    const { region, bytes } = map(k, buf, 4096);
    setHold(true);
    try {
      for (let i = 0; i < TEST_QUEUE_DEPTH; i++) st.queue(buf, TEST_OP_INCREMENT, 100 + i);
      assert.equal(code(() => st.queue(buf, TEST_OP_INCREMENT, 999)), "EBUSY");
      // The ABI's order of checks: op, dma_buf_get, then depth.
      assert.equal(code(() => st.queue(buf, 3, 999)), "EINVAL", "full, bad op: EINVAL");
      assert.equal(code(() => st.queue(-1, TEST_OP_NONE, 999)), "EBADF", "full, bad fd: EBADF");
      assert.equal(st.poll(POLLIN | POLLOUT), 0, "full and nothing done: no bits");
      assert.equal(inoAndCount(k, buf).count, 2 + TEST_QUEUE_DEPTH);
      const t0 = performance.now();
      setHold(false);
      // All 64 done: the last one's sync point is the buffer's newest write fence.
      const last = exportSyncFile(k, buf, DMA_BUF_SYNC_WRITE);
      const { ms } = pollUntil(k, last, POLLIN, POLLIN);
      k.close(last);
      console.log(
        `${TEST_QUEUE_DEPTH} INCREMENTs of 4 KiB done in ${ms.toFixed(1)} ms (${
          (performance.now() - t0).toFixed(1)
        } ms)`,
      );
      assert.equal(
        pollUntil(k, st.fd, POLLIN, POLLIN).revents,
        POLLIN,
        "full of done buffers: POLLIN, no POLLOUT",
      );
      assert.equal(st.poll(POLLIN | POLLOUT), POLLIN);
      const first = st.dequeue();
      assert.equal(first.cookie, 100);
      assert.equal(first.checksum, 4096 * 1, "the first INCREMENT saw zeroes");
      assert.equal(st.poll(POLLIN | POLLOUT), POLLIN | POLLOUT, "a slot freed: POLLOUT back");
      for (let i = 1; i < TEST_QUEUE_DEPTH; i++) {
        const d = st.dequeue();
        assert.equal(d.cookie, 100 + i, "FIFO");
        assert.equal(d.checksum, 4096 * (i + 1), "each INCREMENT ran after the one before");
      }
      assert.ok(bytes.every((b) => b === TEST_QUEUE_DEPTH));
      assert.equal(st.poll(POLLIN | POLLOUT), POLLOUT);
      assert.equal(inoAndCount(k, buf).count, 2);
    } finally {
      setHold(false);
      k.munmap(region);
      k.close(buf);
      st.close();
    }
  },
});

Deno.test({
  name:
    "queue stage: closing the stage with buffers in flight signals their fences with an error and drops them",
  ignore,
  fn() {
    const k = kernel();
    const st = new Stage(k);
    const buf = allocBuffer(k, SIZE);
    setHold(true);
    let sync = -1;
    let closed = false;
    try {
      st.queue(buf, TEST_OP_INVERT, 1);
      st.queue(buf, TEST_OP_INVERT, 2);
      sync = exportSyncFile(k, buf, DMA_BUF_SYNC_WRITE);
      assert.equal(pollFd(k, sync, POLLIN), 0);
      assert.equal(inoAndCount(k, buf).count, 3);
      st.close();
      closed = true;
      assert.equal(pollFd(k, sync, POLLIN), POLLIN, "release signalled the fences");
      const { status, numFences } = syncFileStatus(k, sync);
      console.log(`after release: sync_file status ${status}, ${numFences} fence(s)`);
      assert.equal(status, -125, "ECANCELED on the fence");
      assert.equal(inoAndCount(k, buf).count, 1, "the stage dropped its references");
      assert.equal(pollFd(k, buf, POLLIN | POLLOUT), POLLIN | POLLOUT);
    } finally {
      setHold(false);
      if (sync >= 0) k.close(sync);
      k.close(buf);
      if (!closed) st.close();
    }
  },
});
