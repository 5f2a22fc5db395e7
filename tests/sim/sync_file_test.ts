import assert from "node:assert/strict";
import { SimMachine } from "../../src/sim/mod.ts";
import { alloc, assertErrno, fdinfo } from "./_helpers.ts";
import { openFds } from "../_helpers.ts";
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
} from "../../src/uapi/dma_buf.ts";
import {
  F_GETFD,
  FD_CLOEXEC,
  MAP_SHARED,
  O_RDWR,
  POLLIN,
  POLLOUT,
  PROT_READ,
  PROT_WRITE,
} from "../../src/uapi/constants.ts";

function setup() {
  const k = new SimMachine().process();
  const fd = alloc(k, k.open("/dev/dma_heap/system", O_RDWR), 4096);
  return { k, fd, arg: k.userBuffer(8) };
}

Deno.test("EXPORT_SYNC_FILE returns a signalled O_CLOEXEC sync_file fd", () => {
  const { k, fd, arg } = setup();
  arg.view.setUint32(0, 3, true);
  arg.view.setInt32(4, 1234, true);
  assert.equal(
    k.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, arg, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE"),
    0,
  );
  const sf = arg.view.getInt32(4, true);
  assert.equal(sf, fd + 1);
  assert.equal(arg.view.getUint32(0, true), 3);
  assert.equal(k.fcntl(sf, F_GETFD, 0), FD_CLOEXEC);
  assert.equal(k.readLink(`/proc/self/fd/${sf}`), "anon_inode:sync_file");
  assert.deepEqual(k.poll([{ fd: sf, events: POLLIN | POLLOUT }], 0), [POLLIN]);
  assert.equal(fdinfo(k, sf).size, 4);
});

Deno.test("EXPORT/IMPORT_SYNC_FILE flag checks are EINVAL; a non-sync_file fd is EINVAL", () => {
  const { k, fd, arg } = setup();
  for (const flags of [0, 4, 8, 0x80000001]) {
    arg.view.setUint32(0, flags, true);
    assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, arg), "EINVAL");
    assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, arg), "EINVAL");
  }
  arg.view.setUint32(0, 2, true);
  arg.view.setInt32(4, 99, true);
  assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, arg), "EINVAL");
  arg.view.setInt32(4, fd, true);
  assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, arg), "EINVAL");
  assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, null), "EFAULT");
});

Deno.test("IMPORT_SYNC_FILE adds the fence to the buffer, shown in bufinfo", () => {
  const { k, fd, arg } = setup();
  arg.view.setUint32(0, 1, true);
  k.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, arg);
  const sf = arg.view.getInt32(4, true);
  arg.view.setUint32(0, 2, true);
  arg.view.setInt32(4, sf, true);
  assert.equal(k.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, arg), 0);
  assert.equal(k.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, arg), 0);
  const info = k.readText("/sys/kernel/debug/dma_buf/bufinfo");
  assert.equal(info.split("\twrite fence:stub stub seq 0 signalled\n").length, 2);
  assert.deepEqual(k.poll([{ fd, events: POLLIN | POLLOUT }], -1), [POLLIN | POLLOUT]);
});

Deno.test("An ioctl whose new fd cannot be copied out is EFAULT and leaves no fd behind", () => {
  // get_unused_fd_flags() → copy_to_user() → fd_install() only on success: read-only memory
  // as the argument reads fine and faults on the way out.
  const { k, fd } = setup();
  const mem = alloc(k, k.open("/dev/dma_heap/system", O_RDWR), 4096);
  const rw = k.mmap(mem, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  new DataView(rw.buffer, rw.byteOffset, 8).setUint32(0, 1, true); // DMA_BUF_SYNC_READ
  const ro = k.mmap(mem, 4096, PROT_READ, MAP_SHARED, 0);
  const arg = {
    bytes: new Uint8Array(8),
    view: new DataView(new ArrayBuffer(8)),
    address: ro.address,
  };
  const before = openFds(k);
  assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, arg), "EFAULT");
  assert.deepEqual(openFds(k), before);
  // The same argument in writable memory works: one new fd, the one it reports.
  assert.equal(k.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, { ...arg, address: rw.address }), 0);
  const sf = new DataView(rw.buffer, rw.byteOffset, 8).getInt32(4, true);
  const after = openFds(k); // (each listing shows its own directory fd too)
  assert.equal(after.length, before.length + 1);
  assert.ok(after.includes(String(sf)));
});
