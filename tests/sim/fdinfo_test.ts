import assert from "node:assert/strict";
import { SimMachine } from "../../src/sim/mod.ts";
import { alloc, assertErrno, fdinfo } from "./_helpers.ts";
import {
  F_DUPFD,
  F_DUPFD_CLOEXEC,
  F_GETFD,
  F_GETFL,
  F_SETFD,
  FD_CLOEXEC,
  MAP_SHARED,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from "../../src/uapi/constants.ts";

Deno.test("fdinfo of a dma-buf is the kernel's exact text", () => {
  const k = new SimMachine().process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  const fd = alloc(k, heap, 1 << 20);
  assert.equal(
    k.readText(`/proc/self/fdinfo/${fd}`),
    "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1\nsize:\t1048576\ncount:\t1\nexp_name:\tsystem\n",
  );
});

Deno.test("fdinfo flags are octal with a leading 0 and follow the fd's O_CLOEXEC", () => {
  const k = new SimMachine().process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  assert.equal(fdinfo(k, alloc(k, heap, 4096, O_RDONLY)).get("flags"), "00");
  assert.equal(fdinfo(k, alloc(k, heap, 4096, O_RDWR)).get("flags"), "02");
  const fd = alloc(k, heap, 4096, O_RDWR | O_CLOEXEC);
  assert.equal(fdinfo(k, fd).get("flags"), "02000002");
  k.fcntl(fd, F_SETFD, 0);
  assert.equal(fdinfo(k, fd).get("flags"), "02");
  assert.equal(k.fcntl(fd, F_GETFL, 0), O_RDWR);
});

Deno.test("fdinfo name line appears once a name was set, even an empty one", () => {
  const k = new SimMachine().process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  const fd = alloc(k, heap, 4096);
  assert.equal(fdinfo(k, fd).has("name"), false);
  const name = k.userBuffer(1);
  k.ioctl(fd, 0x40086201, name, "DMA_BUF_SET_NAME_B");
  assert.ok(k.readText(`/proc/self/fdinfo/${fd}`).endsWith("exp_name:\tsystem\nname:\t\n"));
  assert.equal(k.readLink(`/proc/self/fd/${fd}`), "/dmabuf:");
});

Deno.test("fdinfo count follows dup, mmap, munmap and close", () => {
  const k = new SimMachine().process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  const fd = alloc(k, heap, 8192);
  const count = () => Number(fdinfo(k, fd).get("count"));
  assert.equal(count(), 1);
  const dup = k.fcntl(fd, F_DUPFD_CLOEXEC, 0);
  assert.equal(count(), 2);
  const r1 = k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  const r2 = k.mmap(fd, 4096, PROT_READ, MAP_SHARED, 4096);
  assert.equal(count(), 4);
  k.munmap(r1);
  assert.equal(count(), 3);
  k.close(dup);
  assert.equal(count(), 2);
  k.munmap(r2);
  assert.equal(count(), 1);
});

Deno.test("dma-buf inode numbers come from one counter starting at 1", () => {
  const m = new SimMachine();
  const a = m.process(), b = m.process();
  const ha = a.open("/dev/dma_heap/system", O_RDWR);
  const hb = b.open("/dev/dma_heap/global_cma@68000000", O_RDWR);
  const inos = [alloc(a, ha, 4096), alloc(b, hb, 4096), alloc(a, ha, 4096)].map((fd, i) =>
    fdinfo(i === 1 ? b : a, fd).get("ino")
  );
  assert.deepEqual(inos, ["1", "2", "3"]);
});

Deno.test("fdinfo of a heap node shows only the four file lines", () => {
  const k = new SimMachine().process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
  const lines = k.readText(`/proc/self/fdinfo/${heap}`).trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => l.split(":")[0]), ["pos", "flags", "mnt_id", "ino"]);
  assert.equal(lines[1], "flags:\t02100002"); // O_CLOEXEC | O_LARGEFILE | O_RDWR
  assert.equal(k.readLink(`/proc/self/fd/${heap}`), "/dev/dma_heap/system");
});

Deno.test("fd table hands out the lowest free fd from 3 and EBADF after close", () => {
  const k = new SimMachine().process();
  // The listing includes the fd of the directory being read (3), as opendir on Linux.
  assert.deepEqual(k.readDir("/proc/self/fd"), ["0", "1", "2", "3"]);
  assert.equal(k.readLink("/proc/self/fd/0"), "/dev/pts/0");
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  assert.equal(heap, 3);
  const a = alloc(k, heap, 4096), b = alloc(k, heap, 4096), c = alloc(k, heap, 4096);
  assert.deepEqual([a, b, c], [4, 5, 6]);
  k.close(b);
  k.close(a);
  assert.equal(alloc(k, heap, 4096), 4);
  assert.equal(alloc(k, heap, 4096), 5);
  assert.equal(alloc(k, heap, 4096), 7);
  k.close(c);
  assertErrno(() => k.close(c), "EBADF", "close");
  assertErrno(() => k.readText(`/proc/self/fdinfo/${c}`), "ENOENT");
  assertErrno(() => k.readLink(`/proc/self/fd/${c}`), "ENOENT");
  assertErrno(() => k.fcntl(c, F_GETFD, 0), "EBADF");
  assert.equal(k.fcntl(heap, F_DUPFD, 10), 10);
  assert.equal(k.fcntl(heap, F_DUPFD, 0), 6);
  assert.equal(k.fcntl(10, F_GETFD, 0), 0);
  assert.equal(k.fcntl(k.fcntl(heap, F_DUPFD_CLOEXEC, 0), F_GETFD, 0), FD_CLOEXEC);
  assert.deepEqual(k.readDir("/proc/self/fdinfo"), [
    "0",
    "1",
    "10",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9", // the directory being read
  ]);
});

Deno.test("processes have their own fd tables but share buffers' inode counter", () => {
  const m = new SimMachine();
  const a = m.process(), b = m.process();
  assert.equal(a.open("/dev/dma_heap/system", O_RDWR), 3);
  assert.equal(b.open("/dev/dma_heap/system", O_RDWR), 3);
  assertErrno(() => a.readText(`/proc/99999/fdinfo/3`), "ENOENT");
  assertErrno(() => a.readText(`/proc/${b.pid}/fdinfo/4`), "ENOENT");
  assert.match(a.readText(`/proc/${a.pid}/fdinfo/3`), /^pos:\t0\n/);
});

Deno.test("pidfdGetfd() shares a buffer between processes; exit() drops their references", () => {
  const m = new SimMachine();
  const a = m.process("producer"), b = m.process("consumer");
  const heap = a.open("/dev/dma_heap/system", O_RDWR);
  const fd = alloc(a, heap, 4096, O_RDWR);
  const ra = a.mmap(fd, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  const bfd = b.pidfdGetfd(a, fd);
  assert.equal(b.fcntl(bfd, F_GETFD, 0), FD_CLOEXEC);
  assert.equal(fdinfo(b, bfd).get("ino"), fdinfo(a, fd).get("ino"));
  assert.equal(fdinfo(a, fd).get("count"), "3"); // a's fd, a's mapping, b's fd
  const rb = b.mmap(bfd, 4096, PROT_READ, MAP_SHARED, 0);
  new Uint8Array(ra.buffer, ra.byteOffset, 4096)[0] = 99;
  assert.equal(new Uint8Array(rb.buffer, rb.byteOffset, 4096)[0], 99);
  // Another process's fdinfo is readable through /proc/<pid>, as root can.
  assert.equal(b.readText(`/proc/${a.pid}/fdinfo/${fd}`), a.readText(`/proc/self/fdinfo/${fd}`));
  assert.deepEqual(b.readDir("/proc"), [String(a.pid), String(b.pid), "meminfo", "self"].sort());
  assertErrno(() => b.pidfdGetfd(a, 99), "EBADF");
  assertErrno(() => b.pidfdGetfd(a, fd, 1), "EINVAL");
  a.exit();
  assert.equal(fdinfo(b, bfd).get("count"), "2"); // b's fd and b's mapping
  assertErrno(() => a.close(fd), "ESRCH");
  assertErrno(() => b.pidfdGetfd(a, fd), "ESRCH");
  assertErrno(() => b.readText(`/proc/${a.pid}/fdinfo/${fd}`), "ENOENT");
  b.exit();
  assert.match(
    m.defaultProcess.readText("/sys/kernel/debug/dma_buf/bufinfo"),
    /Total 0 objects, 0 bytes\n$/,
  );
  assert.equal(m.warnings.length, 0);
});

Deno.test("bufinfo lists buffers newest first with the kernel's columns and totals", () => {
  const k = new SimMachine().process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  const a = alloc(k, heap, 4096, O_RDONLY);
  const b = alloc(k, heap, 8192);
  const c = alloc(k, k.open("/dev/dma_heap/global_cma@68000000", O_RDWR), 1 << 20);
  const name = k.userBuffer(8);
  name.bytes.set(new TextEncoder().encode("frame"));
  k.ioctl(b, 0x40086201, name);
  k.close(c);
  const d = alloc(k, heap, 4096);
  const text = k.readText("/sys/kernel/debug/dma_buf/bufinfo");
  assert.equal(
    text,
    "\nDma-buf Objects:\n" +
      "size    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n" +
      "00004096\t00000002\t00080007\t00000001\tsystem\t00000004\t<none>\n" +
      "\tAttached Devices:\nTotal 0 devices attached\n\n" +
      "00008192\t00000002\t00080007\t00000001\tsystem\t00000002\tframe\n" +
      "\tAttached Devices:\nTotal 0 devices attached\n\n" +
      "00004096\t00000000\t00080005\t00000001\tsystem\t00000001\t<none>\n" +
      "\tAttached Devices:\nTotal 0 devices attached\n\n" +
      "\nTotal 3 objects, 16384 bytes\n",
  );
  assert.ok([a, b, d].every((fd) => fd > heap));
});
