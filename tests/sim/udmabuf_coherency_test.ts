/**
 * udmabuf on the non-coherent board (`src/sim/udmabuf.ts`, `src/sim/shmem.ts`): the memfd's pages
 * are cached, every CPU alias of them (the memfd's mmap, the udmabuf's mmap and vmap) shows one
 * cache, devices reach memory, and the maintenance is udmabuf.c's (Linux 6.12): the first SYNC
 * START maps the sg table (clean), later STARTs invalidate unless WRITE only, END cleans and is
 * EINVAL before any START, importers' map cleans and unmap invalidates, release invalidates.
 */
import assert from "node:assert/strict";
import { openUdmabuf } from "../../mod.ts";
import { createBufferPool, openStage, Pipeline } from "../../src/pipeline/mod.ts";
import {
  CoherencyViolation,
  createSimMachine,
  type SanitizerMode,
  type SimMachine,
  type SimProcess,
} from "../../src/sim/mod.ts";
import {
  DMA_BIDIRECTIONAL,
  dma_buf_attach,
  dma_buf_detach,
  dma_buf_get,
  dma_buf_map_attachment,
  dma_buf_put,
  dma_buf_unmap_attachment,
} from "../../src/sim/dma_buf.ts";
import { buf_info, DRIVER_A_STRING, TEST_DRIVERA } from "../../src/uapi/test_driver.ts";
import { DMA_BUF_IOCTL_SYNC, DMA_BUF_SYNC_END, DMA_BUF_SYNC_RW } from "../../src/uapi/dma_buf.ts";
import {
  F_ADD_SEALS,
  F_SEAL_SHRINK,
  MAP_SHARED,
  MFD_ALLOW_SEALING,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from "../../src/uapi/constants.ts";
import type { Kernel } from "../../src/kernel/types.ts";
import { findVideoDevice, V4L2_CAP_VIDEO_CAPTURE, VideoStage } from "../../src/v4l2/mod.ts";
import { assertErrno } from "./_helpers.ts";

const PAGE = 4096;
const enc = new TextEncoder();

function board(sanitizer: SanitizerMode = "report") {
  const m = createSimMachine({ coherency: "non-coherent", sanitizer });
  return { m, p: m.process("app") };
}

/** A memfd of `pages` pages sealed for udmabuf, and a shared read-write mapping of it. */
function memfd(k: SimProcess, pages: number) {
  const fd = k.memfdCreate("frames", MFD_ALLOW_SEALING);
  k.ftruncate(fd, pages * PAGE);
  k.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
  const region = k.mmap(fd, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  return {
    fd,
    region,
    bytes: () => new Uint8Array(region.buffer, region.byteOffset, pages * PAGE),
  };
}

/** A device that keeps the buffer mapped (a V4L2/DRM importer's life), doing DMA by address. */
function persistentDevice(m: SimMachine, p: SimProcess, fd: number) {
  const d = dma_buf_get(m.find_task_by_vpid(p.pid)!, fd);
  const a = dma_buf_attach(d, { name: "isp0", dma_mask: 0xffff_ffffn });
  const sgt = dma_buf_map_attachment(a, DMA_BIDIRECTIONAL);
  const phys = (off: number) => {
    for (const e of sgt.entries) {
      if (off < e.length) return e.dma_address + off;
      off -= e.length;
    }
    throw new RangeError("past the buffer");
  };
  return {
    read: (off: number, n: number) => m.phys_read(phys(off), n),
    write: (off: number, b: Uint8Array) => m.phys_write(phys(off), b),
    unmap: () => {
      dma_buf_unmap_attachment(a, sgt, DMA_BIDIRECTIONAL);
      dma_buf_detach(d, a);
      dma_buf_put(d);
    },
  };
}

/** ioctl(/dev/driverA, TEST_DRIVERA, {fd}): the test driver maps the buffer and reads it. */
function driverA(k: Kernel, fd: number, size: number): void {
  const info = k.userBuffer(buf_info.size);
  info.view.setInt32(buf_info.fd, fd, true);
  info.view.setUint32(buf_info.size_, size, true);
  const dev = k.open("/dev/driverA", O_RDWR);
  try {
    k.ioctl(dev, TEST_DRIVERA, info);
  } finally {
    k.close(dev);
  }
}

Deno.test("udmabuf coherency: a write through the udmabuf mapping with no SYNC END is reported and the device reads stale bytes; with START/END none and the right bytes", () => {
  const { m, p } = board();
  using dev = openUdmabuf({ kernel: p });
  using buf = dev.allocate(2 * PAGE, { name: "sw-frame" });
  using map = buf.map();
  const isp = persistentDevice(m, p, buf.fd);
  buf.beginCpuAccess("write");
  map.bytes.fill(0xaa, PAGE, PAGE + 100); // lines 0x1000 and 0x1040
  // No END(WRITE): the lines are still in the CPU's cache; the device reads memory.
  assert.deepEqual(isp.read(PAGE, 128), new Uint8Array(128));
  assert.equal(m.coherencyReportCount("cpu-write-not-cleaned"), 1);
  const r = m.coherencyReports[0];
  assert.equal(r.name, "sw-frame");
  assert.equal(r.ino, buf.info().inode);
  assert.deepEqual([r.offset, r.length], [PAGE, 128]);
  assert.match(
    r.text,
    /"sw-frame" \[0x1000-0x1080\): CPU wrote 128 bytes at 0x1000 with no SYNC END\(WRITE\) before a DMA read at 0x[0-9a-f]+ read them/,
  );
  assert.match(r.syncStack ?? "", /udmabuf_coherency_test\.ts/, "the stack of the SYNC START");
  buf.endCpuAccess("write");
  assert.deepEqual(isp.read(PAGE, 4), new Uint8Array(4).fill(0xaa));

  // The same program with its END: no report, the device reads the bytes.
  const fixed = board();
  using dev2 = openUdmabuf({ kernel: fixed.p });
  using buf2 = dev2.allocate(2 * PAGE);
  using map2 = buf2.map();
  const isp2 = persistentDevice(fixed.m, fixed.p, buf2.fd);
  map2.write((b) => b.fill(0xaa, PAGE, PAGE + 100));
  assert.deepEqual(isp2.read(PAGE, 100), new Uint8Array(100).fill(0xaa));
  isp2.unmap();
  assert.equal(fixed.m.coherencyReportCount(), 0);
  isp.unmap();
});

Deno.test("udmabuf coherency: the memfd's own mapping is the same cache; reports name the udmabuf in its own offsets", () => {
  const { m, p } = board();
  const mf = memfd(p, 4);
  using dev = openUdmabuf({ kernel: p });
  using buf = dev.create({ memfd: mf.fd, offset: PAGE, size: 2 * PAGE }); // memfd pages 1-2
  using map = buf.map();
  const isp = persistentDevice(m, p, buf.fd);
  // A write through the memfd shows through the udmabuf's mapping at once (one CPU cache)...
  mf.bytes()[PAGE + 0x40] = 0x5a;
  assert.equal(map.bytes[0x40], 0x5a);
  // ...but the device reads memory: the line was never cleaned.
  assert.equal(isp.read(0x40, 1)[0], 0);
  assert.equal(m.coherencyReportCount("cpu-write-not-cleaned"), 1);
  assert.deepEqual([m.coherencyReports[0].offset, m.coherencyReports[0].ino], [
    0x40,
    buf.info().inode,
  ]);
  // START/END on the udmabuf around the memfd write: clean, no report.
  buf.beginCpuAccess("write");
  mf.bytes()[PAGE + 0x80] = 0x33;
  buf.endCpuAccess("write");
  assert.deepEqual([...isp.read(0x40, 0x41)].filter((v) => v), [0x5a, 0x33]);
  assert.equal(m.coherencyReportCount(), 1);
  // What the device writes, the CPU sees after a START(READ) (the second START invalidates).
  isp.write(0x100, new Uint8Array([7, 8]));
  assert.equal(mf.bytes()[PAGE + 0x100], 0, "still the cached line");
  buf.beginCpuAccess("read");
  assert.deepEqual([...mf.bytes().subarray(PAGE + 0x100, PAGE + 0x102)], [7, 8]);
  assert.deepEqual([...map.bytes.subarray(0x100, 0x102)], [7, 8]);
  buf.endCpuAccess("read");
  assert.equal(m.coherencyReportCount(), 1);
  isp.unmap();
  p.munmap(mf.region);
  p.close(mf.fd);
});

Deno.test("udmabuf coherency: the test driver's map reports a write with no SYNC END; with START/END none", () => {
  const str = (b: Uint8Array) => new TextDecoder().decode(b.subarray(0, b.indexOf(0)));
  for (const end of [false, true]) {
    const { m, p } = board();
    using dev = openUdmabuf({ kernel: p });
    using buf = dev.allocate(PAGE);
    using map = buf.map();
    buf.beginCpuAccess("write");
    map.bytes.set(enc.encode("driverA: userspace!\0"));
    if (end) buf.endCpuAccess("write");
    driverA(p, buf.fd, buf.size);
    assert.equal(m.coherencyReportCount(), end ? 0 : 1);
    if (!end) {
      assert.match(m.coherencyReports[0].text, /before driverA \(map_attachment\) read them/);
    }
    // The driver wrote its string through its vmap, a CPU alias: the same cache shows it.
    assert.equal(str(map.bytes), DRIVER_A_STRING);
    // But the driver never ends a CPU access (vmap, memcpy, vunmap), so its lines stay dirty,
    // and begin_cpu_udmabuf() of 6.12 syncs ubuf->sg for the CPU on every START after the
    // first: the user's START(READ) invalidates them. (A heap's START invalidates only through
    // mapped attachments, so there the string survives.) The kernel importer's omission, which
    // the sanitizer reports.
    assert.equal(map.read(str), "driverA: userspace!");
    assert.equal(m.coherencyReportCount("cpu-write-discarded"), 1);
    const discarded = m.coherencyReports.find((r) => r.kind === "cpu-write-discarded")!;
    assert.equal(discarded.writer, "driverA");
    assert.match(
      discarded.text,
      /driverA wrote 64 bytes at 0x0 through a kernel vmap with no dma_buf_end_cpu_access\(\) before SYNC START\(READ\) invalidated them/,
    );
  }
  const strict = board("strict");
  using dev = openUdmabuf({ kernel: strict.p });
  using buf = dev.allocate(PAGE);
  using map = buf.map();
  buf.beginCpuAccess("write");
  map.bytes[0] = 1;
  assert.throws(() => driverA(strict.p, buf.fd, buf.size), CoherencyViolation);
});

Deno.test("udmabuf coherency: END before any START is EINVAL (no sg table yet); later an unbalanced END is reported", () => {
  for (const coherency of ["coherent", "non-coherent"] as const) {
    const m = createSimMachine({ coherency });
    const p = m.process();
    using dev = openUdmabuf({ kernel: p });
    using buf = dev.allocate(PAGE);
    const arg = p.userBuffer(8);
    arg.view.setUint32(0, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW, true);
    assertErrno(() => p.ioctl(buf.fd, DMA_BUF_IOCTL_SYNC, arg), "EINVAL");
    assert.deepEqual(m.warnings.map((w) => w.kind), ["end-without-begin"]);
    assert.equal(m.coherencyReportCount(), 0, "the kernel refused it: nothing was synced");
    buf.beginCpuAccess("readwrite");
    buf.endCpuAccess("readwrite");
    // ubuf->sg exists now: END without START is accepted (a clean), as udmabuf.c does.
    assert.equal(p.ioctl(buf.fd, DMA_BUF_IOCTL_SYNC, arg), 0);
    assert.equal(m.coherencyReportCount("direction-mismatch"), coherency === "coherent" ? 0 : 1);
  }
});

Deno.test("udmabuf coherency: the first START(READ) only maps (clean), so on 6.12 it does not invalidate", () => {
  const { m, p } = board();
  using dev = openUdmabuf({ kernel: p });
  using buf = dev.allocate(PAGE);
  using map = buf.map();
  const isp = persistentDevice(m, p, buf.fd);
  isp.write(0, new Uint8Array([1, 2, 3]));
  // begin_cpu_udmabuf()'s first call: get_sg_table() → dma_map_sgtable(): a clean, no
  // invalidation; the CPU still holds the lines it had.
  buf.beginCpuAccess("read");
  assert.deepEqual([...map.bytes.subarray(0, 3)], [0, 0, 0]);
  buf.endCpuAccess("read");
  assert.equal(m.coherencyReportCount("cpu-read-not-invalidated"), 1);
  // Later STARTs: dma_sync_sg_for_cpu() invalidates.
  buf.beginCpuAccess("read");
  assert.deepEqual([...map.bytes.subarray(0, 3)], [1, 2, 3]);
  buf.endCpuAccess("read");
  assert.equal(m.coherencyReportCount(), 1);
  isp.unmap();
});

Deno.test("udmabuf coherency: maintenance covers the udmabuf's pages only", () => {
  const { m, p } = board();
  const mf = memfd(p, 4);
  using dev = openUdmabuf({ kernel: p });
  using a = dev.create({ memfd: mf.fd, offset: 0, size: 2 * PAGE });
  using b = dev.create({ memfd: mf.fd, offset: 2 * PAGE, size: 2 * PAGE });
  for (const buf of [a, b]) {
    buf.beginCpuAccess("readwrite");
    buf.endCpuAccess("readwrite");
  }
  mf.bytes()[2 * PAGE + 9] = 9; // b's page, no sync on b
  a.beginCpuAccess("read"); // invalidates a's pages, not b's
  a.endCpuAccess("read");
  assert.equal(mf.bytes()[2 * PAGE + 9], 9);
  assert.equal(m.coherencyReportCount(), 0);
  b.beginCpuAccess("read"); // b's pages: the dirty line is discarded
  b.endCpuAccess("read");
  assert.equal(mf.bytes()[2 * PAGE + 9], 0);
  assert.equal(m.coherencyReportCount("cpu-write-discarded"), 1);
  assert.equal(m.coherencyReports[0].ino, b.info().inode);
  assert.equal(m.coherencyReports[0].offset, 0);
  p.munmap(mf.region);
  p.close(mf.fd);
});

Deno.test("udmabuf coherency: a several-range udmabuf over two memfds, and a memfd that grows", () => {
  const { m, p } = board("strict");
  const m1 = memfd(p, 2), m2 = memfd(p, 2);
  using dev = openUdmabuf({ kernel: p });
  using buf = dev.createList([
    { memfd: m2.fd, offset: PAGE, size: PAGE },
    { memfd: m1.fd, offset: 0, size: PAGE },
  ]);
  using map = buf.map();
  map.write((b) => {
    b[0] = 1; // m2 page 1
    b[PAGE] = 2; // m1 page 0
  });
  const isp = persistentDevice(m, p, buf.fd);
  assert.deepEqual([isp.read(0, 1)[0], isp.read(PAGE, 1)[0]], [1, 2]);
  assert.deepEqual([m2.bytes()[PAGE], m1.bytes()[0]], [1, 2]);
  isp.write(PAGE + 1, new Uint8Array([3]));
  assert.equal(map.read((b) => b[PAGE + 1]), 3);
  isp.unmap();
  // Growing a memfd under a udmabuf (F_SEAL_SHRINK forbids only shrinking): its cache grows too.
  p.ftruncate(m1.fd, 4 * PAGE);
  const grown = p.mmap(m1.fd, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  using more = dev.create({ memfd: m1.fd, offset: 2 * PAGE, size: 2 * PAGE });
  using moreMap = more.map();
  moreMap.write((b) => b.fill(0x44, PAGE));
  const isp2 = persistentDevice(m, p, more.fd);
  assert.equal(isp2.read(PAGE + 5, 1)[0], 0x44);
  assert.equal(new Uint8Array(grown.buffer, grown.byteOffset, 4 * PAGE)[3 * PAGE], 0x44);
  assert.equal(new Uint8Array(grown.buffer, grown.byteOffset, 4 * PAGE)[0], 2, "kept");
  isp2.unmap();
  assert.equal(m.coherencyReportCount(), 0);
});

Deno.test("udmabuf coherency: a pipeline of udmabufs (the queue driver's DMA) is right and makes no report", async () => {
  const { m, p: kernel } = board("strict");
  using udmabuf = openUdmabuf({ kernel });
  using pool = createBufferPool(udmabuf, { count: 2, size: 1 << 16, name: "frame" });
  const stages = [
    openStage("/dev/driverA", { op: "invert", kernel }),
    openStage("/dev/driverB", { op: "increment", kernel }),
  ];
  let frames = 0;
  await new Pipeline(stages, pool).run({
    frames: 4,
    produce: (b, frame) => b.mapping.write((bytes) => bytes.fill(frame * 7 + 3)),
    consume: (f) => {
      const want = ((~(f.frame * 7 + 3)) + 1) & 0xff;
      f.buffer.mapping.read((bytes) => assert.ok(bytes.every((v) => v === want)));
      frames++;
    },
  });
  assert.equal(frames, 4);
  for (const s of stages) s.close();
  assert.equal(m.coherencyReportCount(), 0);
});

Deno.test("udmabuf coherency: the release unmaps ubuf->sg, which invalidates: writes after the last END are lost", () => {
  const { m, p } = board();
  const mf = memfd(p, 1);
  using dev = openUdmabuf({ kernel: p });
  const buf = dev.create({ memfd: mf.fd, offset: 0, size: PAGE });
  buf.beginCpuAccess("write");
  mf.bytes()[0] = 1;
  buf.endCpuAccess("write");
  mf.bytes()[64] = 2; // after END: dirty
  buf.close(); // release_udmabuf(): put_sg_table(…, DMA_BIDIRECTIONAL)
  assert.deepEqual([mf.bytes()[0], mf.bytes()[64]], [1, 0]);
  assert.equal(m.coherencyReportCount("cpu-write-discarded"), 1);
  assert.match(m.coherencyReports[0].text, /before the udmabuf's release invalidated them/);
  p.munmap(mf.region);
  p.close(mf.fd);

  // A release runs from close, munmap or the GC backstop and must finish: a strict sanitizer
  // records the report there but does not throw.
  const strict = board("strict");
  const free = strict.m.freePages;
  const mf2 = memfd(strict.p, 1);
  using dev2 = openUdmabuf({ kernel: strict.p });
  const buf2 = dev2.create({ memfd: mf2.fd, offset: 0, size: PAGE });
  buf2.beginCpuAccess("write");
  buf2.endCpuAccess("write");
  mf2.bytes()[0] = 1;
  buf2.close();
  assert.equal(strict.m.coherencyReportCount("cpu-write-discarded"), 1);
  strict.p.munmap(mf2.region);
  strict.p.close(mf2.fd);
  assert.equal(strict.m.freePages, free, "the pages went back");
});

Deno.test("udmabuf coherency: the coherent board has no cache over memfds and sees everything at once", () => {
  const m = createSimMachine({ coherency: "coherent" });
  const p = m.process();
  const mf = memfd(p, 2);
  using dev = openUdmabuf({ kernel: p });
  using buf = dev.create({ memfd: mf.fd, offset: 0, size: 2 * PAGE });
  const isp = persistentDevice(m, p, buf.fd);
  mf.bytes()[10] = 0x5a; // no sync at all
  assert.equal(isp.read(10, 1)[0], 0x5a);
  isp.write(11, new Uint8Array([0x77]));
  assert.equal(mf.bytes()[11], 0x77);
  isp.unmap();
  assert.equal(m.coherencyReportCount(), 0);
  p.munmap(mf.region);
  p.close(mf.fd);
});

Deno.test("udmabuf coherency: vivid's frames written through its vmap are lost to the user's next START(READ) but the first", async () => {
  // vb2-vmalloc writes an imported buffer's frame through dma_buf_vmap() and never ends a CPU
  // access; begin_cpu_udmabuf() of 6.12 invalidates on every START after the first. So the
  // second frame in each udmabuf is discarded by the user's START(READ) (a heap's START, with no
  // device attached, does not invalidate: there the frames survive).
  const patterns = ["100% Green", "100% Blue", "100% White"];
  const run = async (coherency: "coherent" | "non-coherent") => {
    const m = createSimMachine({ coherency });
    const kernel = m.process();
    using cap = findVideoDevice({ kernel, capabilities: V4L2_CAP_VIDEO_CAPTURE });
    cap.setControl("Test Pattern", "100% Red");
    using udmabuf = openUdmabuf({ kernel });
    const size = cap.queue("capture").getFormat().sizeimage;
    using pool = createBufferPool(udmabuf, { count: 2, size });
    using stage = new VideoStage(cap.queue("capture"), { count: 2 });
    const got: number[][] = [];
    await new Pipeline([stage], pool).run({
      frames: 4,
      consume(f) {
        got.push(f.buffer.mapping.read((b) => Array.from(b.subarray(0, 4))));
        cap.setControl("Test Pattern", patterns[f.frame % 3]);
      },
    });
    return { got, reports: m.coherencyReports.map((r) => `${r.kind} by ${r.writer}`) };
  };
  const red = [81, 90, 81, 239], green = [144, 54, 144, 34], blue = [40, 239, 40, 109];
  assert.deepEqual(await run("coherent"), {
    got: [red, green, blue, [234, 128, 234, 128]],
    reports: [],
  });
  // Frames 2 and 3 reuse the udmabufs of frames 0 and 1, whose START(READ) now invalidates.
  assert.deepEqual(await run("non-coherent"), {
    got: [red, green, red, green],
    reports: [
      "cpu-write-discarded by vivid (vb2-vmalloc)",
      "cpu-write-discarded by vivid (vb2-vmalloc)",
    ],
  });
});

Deno.test("udmabuf coherency: cache_sgt_mapping — an attachment's table is mapped once, and unmapped (invalidated) at detach", () => {
  const { m, p } = board();
  using dev = openUdmabuf({ kernel: p });
  using buf = dev.allocate(PAGE);
  using map = buf.map();
  const d = dma_buf_get(m.find_task_by_vpid(p.pid)!, buf.fd);
  const a = dma_buf_attach(d, { name: "isp0", dma_mask: 0xffff_ffffn });
  const sgt = dma_buf_map_attachment(a, DMA_BIDIRECTIONAL);
  m.phys_write(sgt.entries[0].dma_address, new Uint8Array([5]));
  // dma_buf_unmap_attachment() of the cached table does nothing: no invalidation yet.
  dma_buf_unmap_attachment(a, sgt, DMA_BIDIRECTIONAL);
  assert.equal(map.bytes[0], 0);
  // A new map of the same attachment returns the same table, with no clean.
  map.bytes[64] = 6; // no SYNC at all
  const again = dma_buf_map_attachment(a, DMA_BIDIRECTIONAL);
  assert.equal(again, sgt);
  assert.equal(m.coherencyReportCount(), 0, "no exporter call, no maintenance, nothing read");
  assert.equal(m.phys_read(sgt.entries[0].dma_address + 64, 1)[0], 0, "the device reads memory");
  assert.equal(m.coherencyReportCount("cpu-write-not-cleaned"), 1);
  dma_buf_unmap_attachment(a, again, DMA_BIDIRECTIONAL);
  // dma_buf_detach() unmaps the table (DMA_BIDIRECTIONAL): the invalidation shows the device's
  // byte and discards the CPU's.
  dma_buf_detach(d, a);
  assert.deepEqual([map.bytes[0], map.bytes[64]], [5, 0]);
  assert.equal(m.coherencyReportCount("cpu-write-discarded"), 1);
  assert.match(m.coherencyReports.at(-1)!.text, /before isp0's unmap \(detach\) invalidated them/);
  dma_buf_put(d);
  assert.equal(m.warningCount(), 0);
});
