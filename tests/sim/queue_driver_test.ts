import assert from "node:assert/strict";
import { SimMachine } from "../../src/sim/mod.ts";
import type { SimProcess } from "../../src/sim/mod.ts";
import type { UserBuffer } from "../../src/kernel/types.ts";
import { alloc, assertErrno, fdinfo } from "./_helpers.ts";
import {
  MAP_SHARED,
  O_CLOEXEC,
  O_RDWR,
  POLLIN,
  POLLOUT,
  PROT_READ,
  PROT_WRITE,
} from "../../src/uapi/constants.ts";
import {
  TEST_DEQUEUE,
  TEST_OP_INCREMENT,
  TEST_OP_INVERT,
  TEST_OP_NONE,
  test_qbuf as Q,
  TEST_QUEUE,
  TEST_QUEUE_DEPTH,
} from "../../src/uapi/queue_driver.ts";
import { buf_info, TEST_DRIVERA } from "../../src/uapi/test_driver.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
} from "../../src/uapi/dma_buf.ts";

/**
 * DMA_BUF_IOCTL_SYNC around a CPU access through a raw mmap: the default machine is the seed's
 * non-coherent arm64 board, where the device sees CPU stores only after END(WRITE) and the CPU
 * sees the device's writes reliably only inside START(READ)…END(READ).
 */
function cpuAccess<T>(k: SimProcess, fd: number, dir: number, access: () => T): T {
  const arg = k.userBuffer(8);
  arg.view.setBigUint64(0, BigInt(DMA_BUF_SYNC_START | dir), true);
  k.ioctl(fd, DMA_BUF_IOCTL_SYNC, arg, "DMA_BUF_IOCTL_SYNC");
  try {
    return access();
  } finally {
    arg.view.setBigUint64(0, BigInt(DMA_BUF_SYNC_END | dir), true);
    k.ioctl(fd, DMA_BUF_IOCTL_SYNC, arg, "DMA_BUF_IOCTL_SYNC");
  }
}

function setup(size = 8192) {
  const m = new SimMachine();
  const k = m.process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
  const buf = alloc(k, heap, size);
  const stage = k.open("/dev/driverA", O_RDWR | O_CLOEXEC);
  return { m, k, heap, buf, stage, arg: k.userBuffer(Q.size) };
}

function qbuf(arg: UserBuffer, fd: number, op: number, cookie: number): UserBuffer {
  arg.bytes.fill(0);
  arg.view.setInt32(Q.fd, fd, true);
  arg.view.setUint32(Q.op, op, true);
  arg.view.setBigUint64(Q.cookie, BigInt(cookie), true);
  return arg;
}

function read(arg: UserBuffer) {
  return {
    cookie: Number(arg.view.getBigUint64(Q.cookie, true)),
    dma_addr: Number(arg.view.getBigUint64(Q.dma_addr, true)),
    checksum: arg.view.getUint32(Q.checksum, true),
    status: arg.view.getInt32(Q.status, true),
  };
}

/** Resolves once the stage's fd polls readable (async, from the kernel's wait queue). */
async function readable(k: SimProcess, fd: number): Promise<number> {
  const [r] = await k.pollAsync([{ fd, events: POLLIN }], 5000);
  assert.ok(r & POLLIN, "the stage never became readable");
  return r;
}

Deno.test("TEST_QUEUE returns before the work is done; DEQUEUE after poll gives the result", async () => {
  const { m, k, buf, stage, arg } = setup();
  const map = k.mmap(buf, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  cpuAccess(
    k,
    buf,
    DMA_BUF_SYNC_WRITE,
    () => new Uint8Array(map.buffer, map.byteOffset, 8192).fill(0x0f),
  );
  assert.equal(k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INVERT, 77), "TEST_QUEUE"), 0);
  // Asynchronous: nothing done yet, the bytes untouched, the stage not readable.
  assert.equal(new Uint8Array(map.buffer, map.byteOffset, 8192)[0], 0x0f);
  assert.deepEqual(k.poll([{ fd: stage, events: POLLIN | POLLOUT }], 0), [POLLOUT]);
  assertErrno(() => k.ioctl(stage, TEST_DEQUEUE, arg, "TEST_DEQUEUE"), "EAGAIN");
  assert.equal(await readable(k, stage), POLLIN);
  assert.equal(k.ioctl(stage, TEST_DEQUEUE, arg, "TEST_DEQUEUE"), 0);
  const r = read(arg);
  assert.equal(r.cookie, 77);
  assert.equal(r.status, 0);
  assert.equal(r.checksum, 0xf0 * 8192);
  assert.ok(r.dma_addr >= 0x40000000, `DMA address ${r.dma_addr.toString(16)}`);
  assert.equal(
    cpuAccess(
      k,
      buf,
      DMA_BUF_SYNC_READ,
      () => new Uint8Array(map.buffer, map.byteOffset, 8192)[8191],
    ),
    0xf0,
  );
  assert.equal(m.coherencyReportCount(), 0);
  assertErrno(() => k.ioctl(stage, TEST_DEQUEUE, arg), "EAGAIN");
});

Deno.test("TEST_QUEUE holds a reference until DEQUEUE; closing the stage drops it", async () => {
  const { k, buf, stage, arg } = setup();
  assert.equal(fdinfo(k, buf).get("count"), "1");
  k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, TEST_OP_NONE, 1));
  assert.equal(fdinfo(k, buf).get("count"), "2");
  await readable(k, stage);
  assert.equal(fdinfo(k, buf).get("count"), "2");
  k.ioctl(stage, TEST_DEQUEUE, arg);
  assert.equal(fdinfo(k, buf).get("count"), "1");
  k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, TEST_OP_NONE, 2));
  k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, TEST_OP_NONE, 3));
  assert.equal(fdinfo(k, buf).get("count"), "3");
  k.close(stage); // release: the queued buffers are dropped, their fences cancelled
  assert.equal(fdinfo(k, buf).get("count"), "1");
  assert.deepEqual(k.poll([{ fd: buf, events: POLLIN | POLLOUT }], 0), [POLLIN | POLLOUT]);
});

Deno.test("TEST_QUEUE errnos: bad fd, not a dma-buf, unknown op, full, bad pointer", () => {
  const { k, buf, stage, heap, arg } = setup(4096);
  assertErrno(() => k.ioctl(stage, TEST_QUEUE, qbuf(arg, 99, TEST_OP_NONE, 0)), "EBADF");
  assertErrno(() => k.ioctl(stage, TEST_QUEUE, qbuf(arg, -1, TEST_OP_NONE, 0)), "EBADF");
  assertErrno(() => k.ioctl(stage, TEST_QUEUE, qbuf(arg, heap, TEST_OP_NONE, 0)), "EINVAL");
  assertErrno(() => k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, 3, 0)), "EINVAL");
  assertErrno(() => k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, 0xffffffff, 0)), "EINVAL");
  assertErrno(() => k.ioctl(stage, TEST_QUEUE, null), "EFAULT");
  assertErrno(() => k.ioctl(stage, TEST_DEQUEUE, null), "EAGAIN");
  for (let i = 0; i < TEST_QUEUE_DEPTH; i++) {
    k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, TEST_OP_NONE, i));
  }
  assert.deepEqual(k.poll([{ fd: stage, events: POLLOUT }], 0), [0]);
  assertErrno(() => k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, TEST_OP_NONE, 64)), "EBUSY");
  assert.equal(fdinfo(k, buf).get("count"), String(1 + TEST_QUEUE_DEPTH));
  // A blocking poll runs the kernel worker until the stage is readable.
  assert.deepEqual(k.poll([{ fd: stage, events: POLLIN }], -1), [POLLIN]);
  k.ioctl(stage, TEST_DEQUEUE, arg);
  assert.equal(read(arg).cookie, 0);
  assert.deepEqual(k.poll([{ fd: stage, events: POLLOUT }], 0), [POLLOUT]);
  k.close(stage);
  assert.equal(fdinfo(k, buf).get("count"), "1");
});

Deno.test("DEQUEUE to a bad pointer is EFAULT and keeps the buffer on the done list", () => {
  const { k, buf, stage, arg } = setup(4096);
  k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, TEST_OP_INCREMENT, 5));
  assert.deepEqual(k.poll([{ fd: stage, events: POLLIN }], -1), [POLLIN]);
  assertErrno(() => k.ioctl(stage, TEST_DEQUEUE, null), "EFAULT");
  assert.equal(k.ioctl(stage, TEST_DEQUEUE, arg), 0);
  assert.equal(read(arg).cookie, 5);
  assert.equal(read(arg).checksum, 4096);
});

Deno.test("Each open file is its own stage; buffers keep their pages across stages", async () => {
  const { k, buf, stage, arg } = setup(1 << 20);
  const b = k.open("/dev/driverB", O_RDWR);
  const a2 = k.open("/dev/driverA", O_RDWR);
  const addrs: number[] = [];
  for (const [fd, op] of [[stage, TEST_OP_INVERT], [b, TEST_OP_INCREMENT], [a2, TEST_OP_INVERT]]) {
    k.ioctl(fd, TEST_QUEUE, qbuf(arg, buf, op, 9));
    // The other stages stay empty.
    for (const other of [stage, b, a2].filter((x) => x !== fd)) {
      assert.deepEqual(k.poll([{ fd: other, events: POLLIN }], 0), [0]);
    }
    await readable(k, fd);
    k.ioctl(fd, TEST_DEQUEUE, arg);
    addrs.push(read(arg).dma_addr);
  }
  assert.equal(new Set(addrs).size, 1);
  // invert, +1, invert: x → x - 1; the buffer was zeroed, so 0xff everywhere.
  assert.equal(read(arg).checksum, 0xff * (1 << 20));
  const map = k.mmap(buf, 4096, PROT_READ, MAP_SHARED, 0);
  assert.equal(new Uint8Array(map.buffer, map.byteOffset, 4096)[100], 0xff);
  assert.equal(k.payloadBytesCopied(), 0);
});

Deno.test("A stage's write fence shows in bufinfo: unsignalled while queued, then signalled", () => {
  const { k, m, buf, stage, arg } = setup(4096);
  k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, TEST_OP_NONE, 1));
  const before = k.readText("/sys/kernel/debug/dma_buf/bufinfo");
  assert.match(before, /write fence:test_driver driverA seq 1 unsignalled/);
  assert.match(before, /Total 0 devices attached/);
  k.poll([{ fd: stage, events: POLLIN }], -1);
  const after = k.readText("/sys/kernel/debug/dma_buf/bufinfo");
  assert.match(after, /write fence:test_driver driverA seq 1 signalled/);
  assert.equal(m.warningCount(), 0);
});

Deno.test("copy_from_user of a struct inside a dma-buf mapping counts as payload copied", () => {
  const { m, k, buf } = setup(4096);
  const map = k.mmap(buf, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  const view = new DataView(map.buffer, map.byteOffset, 4096);
  cpuAccess(k, buf, DMA_BUF_SYNC_WRITE, () => view.setInt32(buf_info.fd, buf, true));
  const drv = k.open("/dev/driverA", O_RDWR);
  assert.equal(k.payloadBytesCopied(), 0);
  // The seed's ioctl with its buf_info argument placed in the dma-buf itself: 24 bytes copied.
  k.ioctl(drv, TEST_DRIVERA, { bytes: new Uint8Array(0), view, address: map.address }, "A");
  assert.equal(k.payloadBytesCopied(), buf_info.size);
  assert.equal(m.coherencyReportCount(), 0);
});

Deno.test("The ops and the checksum are right for every byte value", async () => {
  const { m, k, buf, stage, arg } = setup(65536);
  const map = k.mmap(buf, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  const input = new Uint8Array(65536);
  crypto.getRandomValues(input);
  for (let i = 0; i < 256; i++) input[i] = i;
  const expect = {
    [TEST_OP_NONE]: input.slice(),
    [TEST_OP_INVERT]: input.map((v) => v ^ 0xff),
    [TEST_OP_INCREMENT]: input.map((v) => (v + 1) & 0xff),
  };
  for (const op of [TEST_OP_NONE, TEST_OP_INVERT, TEST_OP_INCREMENT] as const) {
    cpuAccess(
      k,
      buf,
      DMA_BUF_SYNC_WRITE,
      () => new Uint8Array(map.buffer, map.byteOffset, 65536).set(input),
    );
    k.ioctl(stage, TEST_QUEUE, qbuf(arg, buf, op, op));
    await readable(k, stage);
    k.ioctl(stage, TEST_DEQUEUE, arg);
    const got = cpuAccess(
      k,
      buf,
      DMA_BUF_SYNC_READ,
      () => new Uint8Array(map.buffer, map.byteOffset, 65536).slice(),
    );
    assert.deepEqual(got, expect[op]);
    assert.equal(read(arg).checksum, expect[op].reduce((a, b) => a + b, 0));
  }
  assert.equal(m.coherencyReportCount(), 0);
});
