import assert from "node:assert/strict";
import { SimMachine } from "../../src/sim/mod.ts";
import type { UserBuffer } from "../../src/kernel/types.ts";
import { alloc, assertErrno, fdinfo } from "./_helpers.ts";
import { O_CLOEXEC, O_RDWR, POLLIN, POLLOUT } from "../../src/uapi/constants.ts";
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_WRITE,
} from "../../src/uapi/dma_buf.ts";
import {
  TEST_DEQUEUE,
  TEST_OP_INCREMENT,
  TEST_OP_INVERT,
  test_qbuf as Q,
  TEST_QUEUE,
} from "../../src/uapi/queue_driver.ts";

function setup() {
  const k = new SimMachine().process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
  return {
    k,
    buf: alloc(k, heap, 4096),
    buf2: alloc(k, heap, 4096),
    a: k.open("/dev/driverA", O_RDWR),
    b: k.open("/dev/driverB", O_RDWR),
    arg: k.userBuffer(Q.size),
    x: k.userBuffer(8),
  };
}

function qbuf(arg: UserBuffer, fd: number, op: number, cookie = 0): UserBuffer {
  arg.bytes.fill(0);
  arg.view.setInt32(Q.fd, fd, true);
  arg.view.setUint32(Q.op, op, true);
  arg.view.setBigUint64(Q.cookie, BigInt(cookie), true);
  return arg;
}

const IO = POLLIN | POLLOUT;

Deno.test("EXPORT_SYNC_FILE while a stage works: unsignalled, then POLLIN once it is done", async () => {
  const { k, buf, a, arg, x } = setup();
  k.ioctl(a, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INVERT));
  x.view.setUint32(0, DMA_BUF_SYNC_WRITE, true);
  k.ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, x);
  const sf = x.view.getInt32(4, true);
  assert.deepEqual(k.poll([{ fd: sf, events: IO }], 0), [0]);
  const [r] = await k.pollAsync([{ fd: sf, events: IO }], 5000);
  assert.equal(r, POLLIN);
  // The stage signalled its fence when the buffer reached the done list.
  assert.deepEqual(k.poll([{ fd: a, events: POLLIN }], 0), [POLLIN]);
  // Exported now: nothing pending, the signalled stub.
  k.ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, x);
  assert.deepEqual(k.poll([{ fd: x.view.getInt32(4, true), events: IO }], 0), [POLLIN]);
});

Deno.test("dma_buf_poll: a write fence withholds POLLIN and POLLOUT; the armed callback holds a ref", async () => {
  const { k, buf, a, arg } = setup();
  assert.deepEqual(k.poll([{ fd: buf, events: IO }], 0), [IO]);
  k.ioctl(a, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INVERT));
  const base = Number(fdinfo(k, buf).get("count")); // fd + the stage's reference
  assert.equal(base, 2);
  assert.deepEqual(k.poll([{ fd: buf, events: IO }], 0), [0]);
  // Both callbacks armed (one for POLLIN, one for POLLOUT), each holding a file reference.
  assert.equal(fdinfo(k, buf).get("count"), String(base + 2));
  assert.deepEqual(k.poll([{ fd: buf, events: POLLIN }], 0), [0]);
  const [r] = await k.pollAsync([{ fd: buf, events: POLLIN }], 5000);
  assert.equal(r, POLLIN);
  assert.equal(fdinfo(k, buf).get("count"), String(base));
  assert.deepEqual(k.poll([{ fd: buf, events: IO }], 0), [IO]);
});

Deno.test("A read fence blocks POLLOUT only; SYNC START READ does not wait, WRITE does", () => {
  const { k, buf, buf2, a, arg, x } = setup();
  k.ioctl(a, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INVERT));
  x.view.setUint32(0, DMA_BUF_SYNC_WRITE, true);
  k.ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, x);
  const sf = x.view.getInt32(4, true);
  // buf2 now has the stage's (pending) fence as a reader.
  x.view.setUint32(0, DMA_BUF_SYNC_READ, true);
  x.view.setInt32(4, sf, true);
  assert.equal(k.ioctl(buf2, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, x), 0);
  assert.deepEqual(k.poll([{ fd: buf2, events: POLLIN }], 0), [POLLIN]);
  assert.deepEqual(k.poll([{ fd: buf2, events: POLLOUT }], 0), [0]);
  // Read-export of buf2: no writers, so the signalled stub.
  k.ioctl(buf2, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, x);
  assert.deepEqual(k.poll([{ fd: x.view.getInt32(4, true), events: POLLIN }], 0), [POLLIN]);
  const sync = k.userBuffer(8);
  sync.view.setUint32(0, DMA_BUF_SYNC_READ, true);
  k.ioctl(buf2, DMA_BUF_IOCTL_SYNC, sync);
  assert.deepEqual(k.poll([{ fd: a, events: POLLIN }], 0), [0], "READ must not have waited");
  sync.view.setUint32(0, DMA_BUF_SYNC_WRITE, true);
  k.ioctl(buf2, DMA_BUF_IOCTL_SYNC, sync);
  // START|WRITE returned only once the fence signalled: the stage's work is done.
  assert.deepEqual(k.poll([{ fd: a, events: POLLIN }], 0), [POLLIN]);
  assert.deepEqual(k.poll([{ fd: buf2, events: IO }], 0), [IO]);
});

Deno.test("SYNC START READ waits for a stage's write; the CPU then sees the processed bytes", () => {
  const { k, buf, a, arg } = setup();
  k.ioctl(a, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INVERT));
  const sync = k.userBuffer(8);
  sync.view.setUint32(0, DMA_BUF_SYNC_READ, true);
  k.ioctl(buf, DMA_BUF_IOCTL_SYNC, sync);
  const map = k.mmap(buf, 4096, 1, 1, 0);
  assert.equal(new Uint8Array(map.buffer, map.byteOffset, 4096)[4095], 0xff);
  k.ioctl(a, TEST_DEQUEUE, arg);
});

Deno.test("Implicit sync: a buffer queued on two stages at once is processed in queue order", async () => {
  const { k, buf, a, b, arg } = setup();
  k.ioctl(a, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INVERT, 1));
  k.ioctl(b, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INCREMENT, 2));
  const [rb] = await k.pollAsync([{ fd: b, events: POLLIN }], 5000);
  assert.equal(rb, POLLIN);
  // B waited for A's fence: 0 → invert → 0xff → +1 → 0x00 (the other order gives 0xfe).
  k.ioctl(b, TEST_DEQUEUE, arg);
  assert.equal(arg.view.getUint32(Q.checksum, true), 0);
  k.ioctl(a, TEST_DEQUEUE, arg);
  assert.equal(arg.view.getUint32(Q.checksum, true), 0xff * 4096);
});

Deno.test("Closing a stage with queued buffers cancels their fences; waiters wake", async () => {
  const { k, buf, a, arg, x } = setup();
  // No await before the close: the worker has not run, the buffer is still queued.
  k.ioctl(a, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INVERT));
  x.view.setUint32(0, DMA_BUF_SYNC_WRITE, true);
  k.ioctl(buf, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, x);
  const sf = x.view.getInt32(4, true);
  const waiting = k.pollAsync([{ fd: sf, events: POLLIN }], 5000);
  k.close(a);
  assert.deepEqual(await waiting, [POLLIN]);
  assert.deepEqual(k.poll([{ fd: buf, events: IO }], 0), [IO]);
  assert.equal(fdinfo(k, buf).get("count"), "1");
  assert.match(k.readText("/sys/kernel/debug/dma_buf/bufinfo"), /driverA seq 1 signalled/);
});

Deno.test("pollAsync: timeout gives zeros, abort rejects with the reason, bad fd is POLLNVAL", async () => {
  const { k, a } = setup();
  const t0 = performance.now();
  assert.deepEqual(await k.pollAsync([{ fd: a, events: POLLIN }], 30), [0]);
  assert.ok(performance.now() - t0 >= 25);
  const ac = new AbortController();
  const p = k.pollAsync([{ fd: a, events: POLLIN }], -1, ac.signal);
  ac.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
  assert.deepEqual(await k.pollAsync([{ fd: 77, events: POLLIN }], -1), [0x20]);
  await assert.rejects(k.pollAsync([{ fd: a, events: POLLIN }], 1.5), { code: "EINVAL" });
  assertErrno(() => k.poll([{ fd: a, events: POLLIN }], -1), "EINTR");
  assert.deepEqual(k.poll([{ fd: a, events: POLLIN }], 10), [0]);
});
