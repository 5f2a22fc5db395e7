import assert from "node:assert/strict";
import { SimMachine } from "../../src/sim/mod.ts";
import { alloc, allocData, assertErrno, cString, fdinfo } from "./_helpers.ts";
import { _IO, _IOW, _IOWR } from "../../src/uapi/ioctl.ts";
import { dma_heap_allocation_data as A, DMA_HEAP_IOCTL_ALLOC } from "../../src/uapi/dma_heap.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_A,
  DMA_BUF_SET_NAME_B,
} from "../../src/uapi/dma_buf.ts";
import {
  MAP_PRIVATE,
  MAP_SHARED,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  POLLERR,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  PROT_READ,
  PROT_WRITE,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "../../src/uapi/constants.ts";

const CMA = "/dev/dma_heap/global_cma@68000000";

function setup() {
  const k = new SimMachine().process();
  return { k, heap: k.open("/dev/dma_heap/system", O_RDWR) };
}

Deno.test("open() of a missing path is ENOENT; heaps are listed", () => {
  const { k } = setup();
  assertErrno(() => k.open("/dev/dma_heap/nope", O_RDWR), "ENOENT", "open");
  assertErrno(() => k.open("/dev/udmabuff", O_RDWR), "ENOENT");
  assert.deepEqual(k.readDir("/dev/dma_heap"), ["global_cma@68000000", "system"]);
  assertErrno(() => k.readDir("/dev/nope"), "ENOENT");
  assertErrno(() => k.readDir("/dev/dma_heap/system"), "ENOTDIR");
});

Deno.test("DMA_HEAP_IOCTL_ALLOC rejects bad fields with EINVAL, in the kernel's order", () => {
  const { k, heap } = setup();
  const call = (ub: ReturnType<typeof allocData>) =>
    k.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, ub, "DMA_HEAP_IOCTL_ALLOC");
  assertErrno(() => call(allocData(k, 0)), "EINVAL", "ioctl(DMA_HEAP_IOCTL_ALLOC)");
  const reused = allocData(k, 4096);
  reused.view.setUint32(A.fd, 7, true);
  assertErrno(() => call(reused), "EINVAL");
  assertErrno(() => call(allocData(k, 4096, O_RDWR | O_NONBLOCK)), "EINVAL");
  assertErrno(() => call(allocData(k, 4096, ~(O_RDWR | O_CLOEXEC))), "EINVAL");
  const hf = allocData(k, 4096);
  hf.view.setUint32(A.heap_flags, 0x111111, true);
  assertErrno(() => call(hf), "EINVAL");
  const hfHigh = allocData(k, 4096);
  hfHigh.view.setUint32(A.heap_flags + 4, 1, true);
  assertErrno(() => call(hfHigh), "EINVAL");
  const wraps = allocData(k, 0);
  wraps.view.setBigUint64(A.len, 2n ** 64n - 1n, true);
  assertErrno(() => call(wraps), "EINVAL");
  // Nothing leaked: only the heap fd and stdio are open.
  // stdio, the heap, and the fd of the directory being read (as opendir on Linux).
  assert.deepEqual(k.readDir("/proc/self/fd"), ["0", "1", "2", "3", "4"]);
});

Deno.test("DMA_HEAP ioctl: nr >= 1 is EINVAL, not ENOTTY, even with a NULL arg", () => {
  const { k, heap } = setup();
  assertErrno(() => k.ioctl(heap, _IOWR("H", 1, 24), allocData(k, 4096)), "EINVAL");
  assertErrno(() => k.ioctl(heap, _IOWR("H", 0xff, 24), null), "EINVAL");
  assertErrno(() => k.ioctl(heap, _IO("x", 0), null), "EINVAL"); // nr 0, all zero
  assertErrno(() => k.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, null), "EFAULT");
});

Deno.test("DMA_HEAP ioctl honours the user's struct size (16- and 48-byte compat)", () => {
  const { k, heap } = setup();
  const older = k.userBuffer(16);
  older.view.setBigUint64(0, 4096n, true);
  older.view.setUint32(12, O_RDWR | O_CLOEXEC, true);
  assert.equal(k.ioctl(heap, 0xc0104800, older), 0);
  assert.ok(older.view.getUint32(8, true) > 3);
  const newer = k.userBuffer(48);
  newer.view.setBigUint64(0, 4096n, true);
  newer.view.setUint32(12, O_RDWR | O_CLOEXEC, true);
  newer.view.setUint32(24, 0xffffffff, true);
  newer.view.setUint32(32, 0x88888888, true);
  newer.view.setUint32(40, 0x11111111, true);
  assert.equal(k.ioctl(heap, 0xc0304800, newer), 0);
  assert.equal(newer.view.getUint32(24, true), 0xffffffff);
  assert.equal(newer.view.getUint32(40, true), 0x11111111);
  const fd = newer.view.getUint32(8, true);
  assert.equal(fdinfo(k, fd).get("size"), "4096");
  // An _IOW-only nr-0 command allocates but copies nothing back.
  const w = allocData(k, 4096);
  assert.equal(k.ioctl(heap, _IOW("H", 0, 24), w), 0);
  assert.equal(w.view.getUint32(A.fd, true), 0);
  assert.equal(k.readDir("/proc/self/fd").length, 8);
});

Deno.test("DMA_HEAP ioctl rounds len up to a page", () => {
  const { k, heap } = setup();
  assert.equal(fdinfo(k, alloc(k, heap, 1)).get("size"), "4096");
  assert.equal(k.lseek(alloc(k, heap, 4097), 0, SEEK_END), 8192);
});

Deno.test("ALLOC on stdin is ENOTTY; a heap fd opened O_RDONLY may allocate", () => {
  const { k } = setup();
  assertErrno(() => k.ioctl(0, DMA_HEAP_IOCTL_ALLOC, allocData(k, 4096)), "ENOTTY");
  const ro = k.open("/dev/dma_heap/system", O_RDONLY);
  assert.ok(alloc(k, ro, 4096) > ro);
  assertErrno(() => k.ioctl(99, DMA_HEAP_IOCTL_ALLOC, allocData(k, 4096)), "EBADF");
});

Deno.test("dma-buf ioctl: unknown commands are ENOTTY", () => {
  const { k, heap } = setup();
  const fd = alloc(k, heap, 4096);
  assertErrno(() => k.ioctl(fd, _IOW("b", 9, 8), k.userBuffer(8)), "ENOTTY");
  assertErrno(() => k.ioctl(fd, DMA_HEAP_IOCTL_ALLOC, allocData(k, 4096)), "ENOTTY");
  assertErrno(() => k.ioctl(fd, _IOW("b", 1, 16), cString(k, "x")), "ENOTTY");
});

Deno.test("DMA_BUF_IOCTL_SYNC accepts 1,2,3,5,6,7 and rejects the rest with EINVAL", () => {
  const m = new SimMachine();
  const k = m.process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  const fd = alloc(k, heap, 4096);
  const arg = k.userBuffer(8);
  for (let flags = 0; flags < 16; flags++) {
    arg.view.setBigUint64(0, BigInt(flags), true);
    const sync = () => k.ioctl(fd, DMA_BUF_IOCTL_SYNC, arg, "DMA_BUF_IOCTL_SYNC");
    if ([1, 2, 3, 5, 6, 7].includes(flags)) assert.equal(sync(), 0);
    else assertErrno(sync, "EINVAL");
  }
  arg.view.setBigUint64(0, 1n << 40n | 1n, true);
  assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_SYNC, arg), "EINVAL");
  assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_SYNC, null), "EFAULT");
  // The kernel takes the flags in any order; the non-coherent board's sanitizer flags the
  // unbalanced ones (END(READ) after START(RW), …) and only those.
  assert.ok(m.coherencyReportCount() > 0);
  assert.equal(m.coherencyReportCount(), m.coherencyReportCount("direction-mismatch"));
});

Deno.test("DMA_BUF_SET_NAME_A/_B: 31 chars fit, 32 are EINVAL, NULL is EFAULT", () => {
  const { k, heap } = setup();
  const fd = alloc(k, heap, 4096);
  k.ioctl(fd, DMA_BUF_SET_NAME_A, cString(k, "a".repeat(31)));
  assert.equal(fdinfo(k, fd).get("name"), "a".repeat(31));
  k.ioctl(fd, DMA_BUF_SET_NAME_B, cString(k, "camera"));
  assert.equal(fdinfo(k, fd).get("name"), "camera");
  assert.equal(k.readLink(`/proc/self/fd/${fd}`), "/dmabuf:camera");
  assertErrno(() => k.ioctl(fd, DMA_BUF_SET_NAME_B, cString(k, "b".repeat(32))), "EINVAL");
  // No NUL inside the user buffer and the buffer ends: a fault, as strnlen_user would find.
  assertErrno(() => k.ioctl(fd, DMA_BUF_SET_NAME_B, cString(k, "abc", 3)), "EFAULT");
  assertErrno(() => k.ioctl(fd, DMA_BUF_SET_NAME_B, null), "EFAULT");
  assert.equal(fdinfo(k, fd).get("name"), "camera");
});

Deno.test("lseek on a dma-buf: only offset 0 with SEEK_SET or SEEK_END; heaps are ESPIPE", () => {
  const { k, heap } = setup();
  const fd = alloc(k, heap, 3 * 4096);
  assert.equal(k.lseek(fd, 0, SEEK_END), 3 * 4096);
  assert.equal(k.lseek(fd, 0, SEEK_SET), 0);
  assertErrno(() => k.lseek(fd, 1, SEEK_SET), "EINVAL");
  assertErrno(() => k.lseek(fd, -1, SEEK_END), "EINVAL");
  assertErrno(() => k.lseek(fd, 0, SEEK_CUR), "EINVAL");
  assertErrno(() => k.lseek(fd, 0, 3), "EINVAL");
  assert.equal(fdinfo(k, fd).get("pos"), "0");
  assertErrno(() => k.lseek(heap, 0, SEEK_SET), "ESPIPE");
  assertErrno(() => k.lseek(0, 0, SEEK_SET), "ESPIPE");
  assertErrno(() => k.lseek(77, 0, SEEK_SET), "EBADF");
});

Deno.test("mmap: generic checks, then the dma-buf range check, then the heap's rules", () => {
  const { k, heap } = setup();
  const fd = alloc(k, heap, 2 * 4096);
  const rw = PROT_READ | PROT_WRITE;
  assertErrno(() => k.mmap(fd, 0, rw, MAP_SHARED, 0), "EINVAL", "mmap");
  assertErrno(() => k.mmap(fd, 4096, rw, MAP_SHARED, 100), "EINVAL");
  assertErrno(() => k.mmap(fd, 4096, rw, 0, 0), "EINVAL");
  assertErrno(() => k.mmap(fd, 3 * 4096, rw, MAP_SHARED, 0), "EINVAL");
  assertErrno(() => k.mmap(fd, 4096, rw, MAP_SHARED, 2 * 4096), "EINVAL");
  assertErrno(() => k.mmap(fd, 4097, rw, MAP_SHARED, 4096), "EINVAL"); // rounds to 2 pages
  assertErrno(() => k.mmap(55, 4096, rw, MAP_SHARED, 0), "EBADF");
  assertErrno(() => k.mmap(heap, 4096, rw, MAP_SHARED, 0), "ENODEV");
  assertErrno(() => k.mmap(fd, 2 * 4096, rw, MAP_PRIVATE, 0), "EINVAL");
  const priv = k.mmap(fd, 4096, rw, MAP_PRIVATE, 0); // one page: remap_pfn_range allows it
  assert.equal(priv.length, 4096);
  const ro = alloc(k, heap, 4096, O_RDONLY);
  assertErrno(() => k.mmap(ro, 4096, rw, MAP_SHARED, 0), "EACCES");
  assert.equal(k.mmap(ro, 4096, PROT_READ, MAP_SHARED, 0).length, 4096);
  const ok = k.mmap(fd, 4096, rw, MAP_SHARED, 4096);
  assert.equal(ok.offset, 4096);
  assert.equal(ok.byteOffset, 4096);
  assert.equal(ok.address % 4096, 0);
});

Deno.test("mmap on the CMA heap needs MAP_SHARED, even for one page", () => {
  const k = new SimMachine().process();
  const fd = alloc(k, k.open(CMA, O_RDWR), 4096);
  assertErrno(() => k.mmap(fd, 4096, PROT_READ, MAP_PRIVATE, 0), "EINVAL");
  assert.equal(k.mmap(fd, 4096, PROT_READ, MAP_SHARED, 0).length, 4096);
});

Deno.test("poll: a dma-buf without fences is ready for what was asked; bad fds are POLLNVAL", () => {
  const { k, heap } = setup();
  const fd = alloc(k, heap, 4096);
  assert.deepEqual(
    k.poll([
      { fd, events: POLLIN | POLLOUT },
      { fd, events: POLLIN },
      { fd, events: POLLOUT | POLLERR },
      { fd, events: 0 },
      { fd: 99, events: POLLIN },
      { fd: -1, events: POLLIN },
    ], 0),
    [POLLIN | POLLOUT, POLLIN, POLLOUT, 0, POLLNVAL, 0],
  );
});

Deno.test("close, fcntl and readText reject bad input with errno errors, never a crash", () => {
  const { k } = setup();
  assertErrno(() => k.close(-1), "EBADF");
  assertErrno(() => k.close(1.5), "EBADF");
  assertErrno(() => k.fcntl(0, 9999, 0), "EINVAL");
  assertErrno(() => k.fcntl(0, 0, -1), "EINVAL");
  assertErrno(() => k.readText("/proc/self/fdinfo/x"), "ENOENT");
  assertErrno(() => k.readText("/nope"), "ENOENT");
  assertErrno(() => k.readLink("/dev/dma_heap/system"), "EINVAL");
  assertErrno(() => k.userBuffer(-1), "EINVAL");
  assertErrno(() => k.ftruncate(0, 10), "EINVAL");
  assertErrno(() => k.memfdCreate("x", 0x1000), "EINVAL");
});

Deno.test("huge sizes fail cleanly: ENOMEM from both heaps, EINVAL for huge mmaps", () => {
  const { k, heap } = setup();
  const cma = k.open(CMA, O_RDWR);
  for (const len of [2 ** 31, 2 ** 32 + 4096, 2 ** 52]) {
    assertErrno(() => alloc(k, heap, len), "ENOMEM");
    assertErrno(() => alloc(k, cma, len), "ENOMEM");
  }
  const fd = alloc(k, heap, 4096);
  assertErrno(() => k.mmap(fd, 2 ** 32 + 4096, PROT_READ, MAP_SHARED, 0), "EINVAL");
  assertErrno(() => k.mmap(fd, 4096, PROT_READ, MAP_SHARED, 2 ** 44), "EINVAL");
});

Deno.test("an ioctl request given as a negative int32 is the same command", () => {
  const { k, heap } = setup();
  const ub = allocData(k, 4096);
  assert.equal(k.ioctl(heap, DMA_HEAP_IOCTL_ALLOC | 0, ub), 0);
  assert.ok(ub.view.getUint32(A.fd, true) > heap);
});
