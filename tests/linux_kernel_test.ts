/**
 * LinuxKernel against this host's real kernel: memfds, mmap, fcntl, lseek, poll, ioctl errors,
 * /proc reads and the kernel log. Tests that need /dev/dma_heap/system or /dev/udmabuf run only
 * where those open (the qemu harness) and say why they are skipped elsewhere.
 *
 * Needs --allow-ffi (and nothing else: /proc is read through libc).
 */
import assert from "node:assert/strict";
import { LinuxKernel, linuxKernel } from "../src/kernel/linux.ts";
import type { MappedRegion, UserBuffer } from "../src/kernel/types.ts";
import { ErrnoError } from "../src/errors.ts";
import {
  F_ADD_SEALS,
  F_DUPFD_CLOEXEC,
  F_GETFD,
  F_SEAL_SHRINK,
  FD_CLOEXEC,
  MAP_SHARED,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  PROT_READ,
  PROT_WRITE,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "../src/uapi/constants.ts";
import { dma_heap_allocation_data, DMA_HEAP_IOCTL_ALLOC } from "../src/uapi/dma_heap.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
} from "../src/uapi/dma_buf.ts";
import { UDMABUF_CREATE, udmabuf_create, UDMABUF_FLAGS_CLOEXEC } from "../src/uapi/udmabuf.ts";
import { FIONREAD } from "../src/ffi/libc.ts";

import { assertErrno, openFds, unusable } from "./_helpers.ts";

const k = linuxKernel();

/** A memfd of `size` bytes, closed after `fn`. */
function withMemfd<T>(size: number, fn: (fd: number) => T, flags = MFD_CLOEXEC): T {
  const fd = k.memfdCreate("linux_kernel_test", flags);
  try {
    k.ftruncate(fd, size);
    return fn(fd);
  } finally {
    k.close(fd);
  }
}

Deno.test("linuxKernel() returns one LinuxKernel describing this system", () => {
  assert.equal(linuxKernel(), k);
  assert.ok(k instanceof LinuxKernel);
  assert.equal(k.kind, "linux");
  assert.equal(k.pageSize, 4096);
  const release = k.readText("/proc/sys/kernel/osrelease").trim();
  assert.ok(k.description.startsWith(`Linux ${release} (`), k.description);
  assert.match(k.description, /\(.+\)$/);
});

Deno.test("LinuxKernel.open() of a missing path throws NotFound with the path", () => {
  const err = assertErrno(() => k.open("/nonexistent/dma_heap", O_RDWR), "ENOENT", "open");
  assert.ok(err instanceof Deno.errors.NotFound);
  assert.equal(err.path, "/nonexistent/dma_heap");
  assert.equal(err.errno, 2);
});

Deno.test("LinuxKernel.close() twice throws BadResource (EBADF)", () => {
  const fd = k.open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert.ok(fd >= 0);
  k.close(fd);
  const err = assertErrno(() => k.close(fd), "EBADF", "close");
  assert.ok(err instanceof Deno.errors.BadResource);
});

Deno.test("LinuxKernel rejects malformed arguments with errno errors, not crashes", () => {
  assertErrno(() => k.open("a\0b", O_RDONLY), "EINVAL", "open");
  assertErrno(() => k.open(42 as unknown as string, O_RDONLY), "EINVAL", "open");
  assertErrno(() => k.close(1.5), "EBADF", "close");
  assertErrno(() => k.close(Infinity), "EBADF", "close");
  assertErrno(() => k.mmap(NaN, 4096, PROT_READ, MAP_SHARED, 0), "EBADF", "mmap");
  assertErrno(() => k.mmap(0, -1, PROT_READ, MAP_SHARED, 0), "EINVAL", "mmap");
  assertErrno(() => k.mmap(0, 4096, PROT_READ, MAP_SHARED, 2 ** 60), "EINVAL", "mmap");
  assertErrno(() => k.ftruncate(0, NaN), "EINVAL", "ftruncate");
  assertErrno(() => k.lseek(0, 0.5, SEEK_SET), "EINVAL", "lseek");
  assertErrno(() => k.fcntl(0, 1.5, 0), "EINVAL", "fcntl");
  assertErrno(() => k.poll([{ fd: 0, events: NaN }], 0), "EINVAL", "poll");
  assertErrno(() => k.userBuffer(-1), "EINVAL", "userBuffer");
  assertErrno(() => k.memfdCreate("x", 2 ** 40), "EINVAL", "memfd_create");
  // -0 is 0 for the interface (Deno's FFI alone would throw a TypeError for it).
  withMemfd(4096, (fd) => {
    assert.equal(k.lseek(fd, -0, SEEK_SET), 0);
    assertErrno(() => k.ioctl(fd, -0, null), "ENOTTY", "ioctl(0x00000000)");
    assert.equal(k.fcntl(fd, F_GETFD, -0), FD_CLOEXEC);
  });
});

Deno.test("LinuxKernel.mmap() shares a memfd's pages between two mappings", () => {
  withMemfd(2 * 4096, (fd) => {
    const a = k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    const b = k.mmap(fd, 4096, PROT_READ, MAP_SHARED, 4096);
    try {
      assert.equal(a.length, 8192);
      assert.equal(a.offset, 0);
      assert.equal(a.byteOffset, 0);
      assert.equal(a.buffer.byteLength, 8192);
      assert.ok(a.address > 0 && a.address % 4096 === 0);
      assert.equal(b.offset, 4096);
      assert.notEqual(a.address, b.address);
      const va = new Uint8Array(a.buffer, a.byteOffset, a.length);
      assert.ok(va.every((x) => x === 0), "a fresh memfd reads as zeros");
      va[0] = 0x11;
      va[4096] = 0x5a;
      va[8191] = 0xa5;
      const vb = new Uint8Array(b.buffer, b.byteOffset, b.length);
      assert.equal(vb[0], 0x5a);
      assert.equal(vb[4095], 0xa5);
    } finally {
      k.munmap(a);
      k.munmap(b);
    }
  });
});

Deno.test("LinuxKernel.mmap() rounds the length up to whole pages", () => {
  withMemfd(4096, (fd) => {
    const r = k.mmap(fd, 100, PROT_READ, MAP_SHARED, 0);
    assert.equal(r.length, 4096);
    assert.equal(r.buffer.byteLength, 4096);
    k.munmap(r);
  });
});

Deno.test("LinuxKernel.munmap() detaches every view; a second munmap throws EINVAL", () => {
  withMemfd(4096, (fd) => {
    const r = k.mmap(fd, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    const view = new Uint8Array(r.buffer);
    const data = new DataView(r.buffer);
    view[0] = 7;
    k.munmap(r);
    assert.equal(r.buffer.byteLength, 0);
    assert.ok(r.buffer.detached);
    assert.equal(view.length, 0);
    // Touching a revoked view reads nothing and writes nowhere: no segfault.
    assert.equal(view[0], undefined);
    view[0] = 1;
    assert.throws(() => data.getUint8(0), TypeError);
    assertErrno(() => k.munmap(r), "EINVAL", "munmap");
    // The memory is still there through a new mapping.
    const again = k.mmap(fd, 4096, PROT_READ, MAP_SHARED, 0);
    assert.equal(new Uint8Array(again.buffer)[0], 7);
    k.munmap(again);
  });
});

Deno.test("LinuxKernel.munmap() of a region it did not map throws EINVAL", () => {
  const fake: MappedRegion = {
    address: 0x10000,
    length: 4096,
    offset: 0,
    buffer: new ArrayBuffer(4096),
    byteOffset: 0,
  };
  assertErrno(() => k.munmap(fake), "EINVAL", "munmap");
  assert.equal(fake.buffer.byteLength, 4096, "a foreign buffer is not detached");
});

Deno.test("LinuxKernel.mmap() gives the kernel's errors", () => {
  withMemfd(8192, (fd) => {
    assertErrno(() => k.mmap(fd, 0, PROT_READ, MAP_SHARED, 0), "EINVAL", "mmap");
    assertErrno(() => k.mmap(fd, 4096, PROT_READ, MAP_SHARED, 100), "EINVAL", "mmap");
    assertErrno(() => k.mmap(999_999, 4096, PROT_READ, MAP_SHARED, 0), "EBADF", "mmap");
    // A read-only open of the same memfd cannot be mapped writable and shared.
    const ro = k.open(`/proc/self/fd/${fd}`, O_RDONLY | O_CLOEXEC);
    try {
      const err = assertErrno(
        () => k.mmap(ro, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0),
        "EACCES",
        "mmap",
      );
      assert.ok(err instanceof Deno.errors.PermissionDenied);
      const r = k.mmap(ro, 4096, PROT_READ, MAP_SHARED, 0);
      k.munmap(r);
    } finally {
      k.close(ro);
    }
  });
});

Deno.test("LinuxKernel.mmap() refuses with ENOMEM at the quarantine cap (a quarter of vm.max_map_count), naming cause and fix", async () => {
  // In a child: kept ranges last for the life of a process, so this one must hold no other
  // mapping. Its kernel reads vm.max_map_count as 8 (a cap of 2); the rest is the real path.
  const url = new URL("./fixtures/nocrash/quarantine_cap.ts", import.meta.url);
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", url.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(run.stdout);
  assert.equal(run.code, 0, `${text}${new TextDecoder().decode(run.stderr)}`);
  const r = JSON.parse(text);
  assert.deepEqual(r.start, { count: 0 }); // (JSON drops limit: undefined)
  assert.equal(r.mapCountReads, 1, "the limit is read once, at the first kept range");
  const page = k.pageSize;
  assert.deepEqual(r.steps.slice(0, 2), [
    { quarantined: { count: 1, limit: 2 }, bytes: page }, // below the cap: mmap still maps
    { quarantined: { count: 2, limit: 2 }, bytes: 2 * page },
  ]);
  // At the cap the third mmap is refused before any syscall, with the cause and the fix.
  const refused = r.steps[2];
  assert.deepEqual(
    { name: refused.name, code: refused.code, syscall: refused.syscall },
    { name: "ErrnoError", code: "ENOMEM", syscall: "mmap" },
  );
  assert.match(
    refused.message,
    new RegExp(
      `^mmap failed with ENOMEM: 2 address ranges \\(${2 * page} bytes\\) are kept as zero pages`,
    ),
  );
  assert.match(refused.message, /ArrayBuffers of unmapped mappings were moved away \(transfer\(\)/);
  assert.match(refused.message, /vm\.max_map_count/);
  assert.match(
    refused.message,
    /Do not move a mapping's ArrayBuffer: copy out of it, or hand the DmaBuf itself on$/,
  );
  assert.deepEqual(r.aliases, [0, 0], "the moved aliases read the zero pages, no fault");
});

Deno.test("LinuxKernel.fcntl() duplicates with F_DUPFD_CLOEXEC and reads FD_CLOEXEC", () => {
  withMemfd(0, (fd) => {
    const dup = k.fcntl(fd, F_DUPFD_CLOEXEC, 100);
    try {
      assert.ok(dup >= 100);
      assert.equal(k.fcntl(dup, F_GETFD, 0) & FD_CLOEXEC, FD_CLOEXEC);
      assert.equal(k.readLink(`/proc/self/fd/${dup}`), k.readLink(`/proc/self/fd/${fd}`));
    } finally {
      k.close(dup);
    }
    assertErrno(() => k.fcntl(dup, F_GETFD, 0), "EBADF", "fcntl");
  }, 0);
  withMemfd(0, (fd) => assert.equal(k.fcntl(fd, F_GETFD, 0) & FD_CLOEXEC, 0), 0);
});

Deno.test("LinuxKernel.fcntl() adds seals to a sealable memfd", () => {
  withMemfd(4096, (fd) => {
    assert.equal(k.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    assertErrno(() => k.ftruncate(fd, 0), "EPERM", "ftruncate");
  }, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  withMemfd(4096, (fd) => {
    assertErrno(() => k.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), "EPERM", "fcntl");
  });
});

Deno.test("LinuxKernel.lseek() returns offsets and the kernel's errors", () => {
  withMemfd(12288, (fd) => {
    assert.equal(k.lseek(fd, 0, SEEK_END), 12288);
    assert.equal(k.lseek(fd, 100, SEEK_SET), 100);
    assert.equal(k.lseek(fd, 5, SEEK_CUR), 105);
    assert.equal(k.lseek(fd, 2 ** 40, SEEK_SET), 2 ** 40);
    assertErrno(() => k.lseek(fd, -1, SEEK_SET), "EINVAL", "lseek");
    assertErrno(() => k.lseek(fd, 0, 99), "EINVAL", "lseek");
  });
});

Deno.test("LinuxKernel.poll() reports a memfd ready and a closed fd invalid", () => {
  withMemfd(4096, (fd) => {
    const closed = k.fcntl(fd, F_DUPFD_CLOEXEC, 0);
    k.close(closed);
    assert.deepEqual(
      k.poll([{ fd, events: POLLIN | POLLOUT }, { fd, events: POLLIN }, {
        fd: closed,
        events: POLLIN,
      }], 0),
      [POLLIN | POLLOUT, POLLIN, POLLNVAL],
    );
    assert.deepEqual(k.poll([], 0), []);
    // More requests than the initial pollfd buffer holds.
    const many = Array.from({ length: 40 }, () => ({ fd, events: POLLOUT }));
    assert.deepEqual(k.poll(many, 0), many.map(() => POLLOUT));
  });
});

Deno.test("LinuxKernel.userBuffer() is zeroed memory whose address is its pointer", () => {
  const b = k.userBuffer(24);
  assert.equal(b.bytes.length, 24);
  assert.ok(b.bytes.every((x) => x === 0));
  assert.equal(b.view.buffer, b.bytes.buffer);
  assert.ok(b.address > 0);
  const p = Deno.UnsafePointer.of(b.bytes.buffer as ArrayBuffer);
  assert.equal(b.address, Number(Deno.UnsafePointer.value(p)));
  b.view.setUint32(8, 0xdeadbeef, true);
  // SAFETY: reads 4 bytes inside the 24-byte buffer that `b` keeps alive.
  assert.equal(new Deno.UnsafePointerView(p!).getUint32(8), 0xdeadbeef);
  assert.equal(k.userBuffer(0).bytes.length, 0);
});

Deno.test("LinuxKernel.ioctl() passes the UserBuffer and returns the result", () => {
  withMemfd(5000, (fd) => {
    const out = k.userBuffer(4);
    assert.equal(k.ioctl(fd, FIONREAD, out, "FIONREAD"), 0);
    assert.equal(out.view.getInt32(0, true), 5000);
    k.lseek(fd, 1000, SEEK_SET);
    assert.equal(k.ioctl(fd, FIONREAD, out), 0);
    assert.equal(out.view.getInt32(0, true), 4000);
  });
});

Deno.test("LinuxKernel.ioctl() of an unknown request throws ENOTTY naming the request", () => {
  withMemfd(4096, (fd) => {
    const arg = k.userBuffer(24);
    let err = assertErrno(
      () => k.ioctl(fd, DMA_HEAP_IOCTL_ALLOC, arg, "DMA_HEAP_IOCTL_ALLOC"),
      "ENOTTY",
      "ioctl(DMA_HEAP_IOCTL_ALLOC)",
    );
    assert.match(err.message, /^ioctl\(DMA_HEAP_IOCTL_ALLOC\) failed with ENOTTY: /);
    err = assertErrno(() => k.ioctl(fd, 0x40086200, null), "ENOTTY", "ioctl(0x40086200)");
    assert.equal(err.errno, 25);
    assertErrno(() => k.ioctl(-1, FIONREAD, arg, "FIONREAD"), "EBADF", "ioctl(FIONREAD)");
  });
});

Deno.test("LinuxKernel.ioctl() returns -expected for the caller's expected errno, throws others", () => {
  withMemfd(4096, (fd) => {
    // ENOTTY is expected here: returned, not thrown.
    assert.equal(k.ioctl(fd, 0x40086200, null, "X", 25), -25);
    // Another errno than the expected one still throws, with its name and the request.
    assertErrno(() => k.ioctl(fd, 0x40086200, null, "X", 11), "ENOTTY", "ioctl(X)");
    // Success is unchanged.
    const out = k.userBuffer(4);
    assert.equal(k.ioctl(fd, FIONREAD, out, "FIONREAD", 11), 0);
    assert.equal(out.view.getInt32(0, true), 4096);
  });
});

Deno.test("LinuxKernel.ioctl() refuses memory it did not make and malformed requests", () => {
  const foreign: UserBuffer = {
    bytes: new Uint8Array(8),
    view: new DataView(new ArrayBuffer(8)),
    address: 0x1000,
  };
  assertErrno(() => k.ioctl(0, FIONREAD, foreign, "FIONREAD"), "EFAULT", "ioctl(FIONREAD)");
  assertErrno(() => k.ioctl(0, -1, null), "EINVAL", "ioctl(0xFFFFFFFF)");
  assertErrno(() => k.ioctl(0, 2 ** 32, null, "BIG"), "EINVAL", "ioctl(BIG)");
  assertErrno(() => k.ioctl(0.5, FIONREAD, null, "FIONREAD"), "EBADF", "ioctl(FIONREAD)");
});

Deno.test("LinuxKernel.readText() reads /proc/self/fdinfo of an fd", () => {
  withMemfd(4096, (fd) => {
    const text = k.readText(`/proc/self/fdinfo/${fd}`);
    assert.match(text, /^pos:\t0\nflags:\t0\d+\nmnt_id:\t\d+\nino:\t\d+\n/);
    const flags = parseInt(/^flags:\t(\d+)$/m.exec(text)![1], 8);
    assert.equal(flags & O_CLOEXEC, O_CLOEXEC);
    assert.equal(flags & 3, O_RDWR);
  });
  assertErrno(() => k.readText("/nonexistent/file"), "ENOENT", "open");
  assertErrno(() => k.readText("/proc/self"), "EISDIR", "read");
});

Deno.test("LinuxKernel.readText() reads files larger than one read() chunk", () => {
  const text = Array.from({ length: 5000 }, (_, i) => `line ${i} ✓`).join("\n");
  const bytes = new TextEncoder().encode(text);
  withMemfd(bytes.length, (fd) => {
    const r = k.mmap(fd, bytes.length, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    new Uint8Array(r.buffer, r.byteOffset, bytes.length).set(bytes);
    k.munmap(r);
    assert.ok(bytes.length > 3 * 16384);
    assert.equal(k.readText(`/proc/self/fd/${fd}`), text);
  });
});

Deno.test("LinuxKernel.readLink() reads /proc/self/fd/<fd>", () => {
  withMemfd(0, (fd) => {
    assert.equal(k.readLink(`/proc/self/fd/${fd}`), "/memfd:linux_kernel_test (deleted)");
  });
  assertErrno(() => k.readLink("/proc/self/fd/999999"), "ENOENT", "readlink");
  assertErrno(() => k.readLink("/dev/null"), "EINVAL", "readlink");
});

Deno.test("LinuxKernel.readDir() lists names sorted, without . and ..", () => {
  withMemfd(0, (fd) => {
    const names = k.readDir("/proc/self/fd");
    assert.ok(names.includes(String(fd)));
    assert.ok(!names.includes(".") && !names.includes(".."));
    assert.deepEqual(names, [...names].sort());
  });
  assertErrno(() => k.readDir("/nonexistent"), "ENOENT", "opendir");
  assertErrno(() => k.readDir("/dev/null"), "ENOTDIR", "opendir");
});

Deno.test("LinuxKernel leaks no fd, on success or failure", () => {
  const before = openFds(k);
  for (let i = 0; i < 20; i++) {
    withMemfd(8192, (fd) => {
      const r = k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
      k.readText(`/proc/self/fdinfo/${fd}`);
      k.readLink(`/proc/self/fd/${fd}`);
      k.readDir("/proc/self/fd");
      k.poll([{ fd, events: POLLIN }], 0);
      k.munmap(r);
      try {
        k.mmap(fd, 0, PROT_READ, MAP_SHARED, 0);
      } catch { /* expected EINVAL */ }
      try {
        k.readText("/proc/self");
      } catch { /* expected EISDIR after open succeeded: the fd must still be closed */ }
    });
  }
  assert.deepEqual(openFds(k), before);
});

let syslogSkip: string | undefined;
try {
  k.syslog();
} catch (e) {
  syslogSkip = e instanceof ErrnoError ? `klogctl failed with ${e.code}` : String(e);
}
if (syslogSkip) console.log(`linux_kernel_test: skipping syslog(): ${syslogSkip}`);

Deno.test({
  name: "LinuxKernel.syslog() returns dmesg lines without <level> prefixes",
  ignore: syslogSkip !== undefined,
  fn() {
    const log = k.syslog();
    const lines = log.split("\n").filter((l) => l !== "");
    assert.ok(lines.length > 0);
    assert.ok(lines.every((l) => !/^<\d+>/.test(l)), "no <N> prefix left");
    // CONFIG_PRINTK_TIME kernels print "[    0.000000] ..."; others print the text alone.
    if (lines[0].startsWith("[")) assert.match(lines[0], /^\[\s*\d+\.\d{6}\] /);
  },
});

// ---------------------------------------------------------------------------------------------
// Real dma-buf devices: only where the kernel has them (the qemu harness).

const heapSkip = unusable(k, "/dev/dma_heap/system");
if (heapSkip) console.log(`linux_kernel_test: skipping the dma-heap allocation test: ${heapSkip}`);

Deno.test({
  name: "LinuxKernel allocates, maps, syncs and names a dma-buf from /dev/dma_heap/system",
  ignore: heapSkip !== undefined,
  fn() {
    const heap = k.open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
    const data = k.userBuffer(dma_heap_allocation_data.size);
    try {
      data.view.setBigUint64(dma_heap_allocation_data.len, 1000n, true);
      data.view.setUint32(dma_heap_allocation_data.fd_flags, O_RDWR | O_CLOEXEC, true);
      assert.equal(k.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, data, "DMA_HEAP_IOCTL_ALLOC"), 0);
      const fd = data.view.getUint32(dma_heap_allocation_data.fd, true);
      try {
        assert.equal(k.lseek(fd, 0, SEEK_END), 4096);
        const r = k.mmap(fd, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
        const sync = k.userBuffer(8);
        sync.view.setBigUint64(0, BigInt(DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW), true);
        k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync, "DMA_BUF_IOCTL_SYNC");
        const v = new Uint8Array(r.buffer, r.byteOffset, r.length);
        assert.ok(v.every((x) => x === 0), "heap memory is zeroed");
        v.fill(0xab);
        sync.view.setBigUint64(0, BigInt(DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), true);
        k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync, "DMA_BUF_IOCTL_SYNC");
        sync.view.setBigUint64(0, 8n, true);
        assertErrno(
          () => k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync, "DMA_BUF_IOCTL_SYNC"),
          "EINVAL",
          "ioctl(DMA_BUF_IOCTL_SYNC)",
        );
        // DMA_BUF_SET_NAME's argument is the string itself.
        const name = k.userBuffer(16);
        name.bytes.set(new TextEncoder().encode("linux-test"));
        k.ioctl(fd, DMA_BUF_SET_NAME_B, name, "DMA_BUF_SET_NAME_B");
        const info = k.readText(`/proc/self/fdinfo/${fd}`);
        assert.match(info, /^size:\t4096$/m);
        assert.match(info, /^count:\t2$/m, "the fd and the mapping");
        assert.match(info, /^exp_name:\tsystem$/m);
        assert.match(info, /^name:\tlinux-test$/m);
        k.munmap(r);
        assert.match(k.readText(`/proc/self/fdinfo/${fd}`), /^count:\t1$/m);
      } finally {
        k.close(fd);
      }
      data.view.setBigUint64(dma_heap_allocation_data.heap_flags, 1n, true);
      data.view.setUint32(dma_heap_allocation_data.fd, 0, true);
      assertErrno(
        () => k.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, data, "DMA_HEAP_IOCTL_ALLOC"),
        "EINVAL",
        "ioctl(DMA_HEAP_IOCTL_ALLOC)",
      );
    } finally {
      k.close(heap);
    }
  },
});

const udmabufSkip = unusable(k, "/dev/udmabuf");
if (udmabufSkip) console.log(`linux_kernel_test: skipping the udmabuf test: ${udmabufSkip}`);

Deno.test({
  name: "LinuxKernel turns a sealed memfd into a dma-buf through /dev/udmabuf",
  ignore: udmabufSkip !== undefined,
  fn() {
    const dev = k.open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
    try {
      withMemfd(8192, (memfd) => {
        k.fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK);
        const arg = k.userBuffer(udmabuf_create.size);
        arg.view.setUint32(udmabuf_create.memfd, memfd, true);
        arg.view.setUint32(udmabuf_create.flags, UDMABUF_FLAGS_CLOEXEC, true);
        arg.view.setBigUint64(udmabuf_create.size_, 8192n, true);
        const fd = k.ioctl(dev, UDMABUF_CREATE, arg, "UDMABUF_CREATE");
        try {
          assert.ok(fd > 0, "the new fd is the ioctl's return value");
          assert.equal(k.lseek(fd, 0, SEEK_END), 8192);
          assert.match(k.readText(`/proc/self/fdinfo/${fd}`), /^exp_name:\tudmabuf$/m);
        } finally {
          k.close(fd);
        }
        arg.view.setBigUint64(udmabuf_create.size_, 100n, true);
        assertErrno(
          () => k.ioctl(dev, UDMABUF_CREATE, arg, "UDMABUF_CREATE"),
          "EINVAL",
          "ioctl(UDMABUF_CREATE)",
        );
      }, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    } finally {
      k.close(dev);
    }
  },
});
