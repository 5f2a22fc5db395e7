/**
 * The non-coherent CPU and the coherency sanitizer (`src/sim/cache.ts`): the library's own
 * paths are clean, each bug kind written on purpose is reported (and throws in strict mode), and
 * what user space or a device sees is what a write-back cache would give them.
 */
import assert from "node:assert/strict";
import { openHeap } from "../../mod.ts";
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
  type dma_buf_attachment,
  dma_buf_get,
  dma_buf_map_attachment,
  dma_buf_unmap_attachment,
  type sg_table,
} from "../../src/sim/dma_buf.ts";
import { buf_info, DRIVER_A_STRING, TEST_DRIVERA } from "../../src/uapi/test_driver.ts";
import { O_RDWR } from "../../src/uapi/constants.ts";
import type { Kernel } from "../../src/kernel/types.ts";

const CMA = "global_cma@68000000";
const enc = new TextEncoder();

function board(sanitizer: SanitizerMode = "report", evictionSeed?: number) {
  const m = createSimMachine({ coherency: "non-coherent", sanitizer, evictionSeed });
  return { m, p: m.process("app") };
}

/** ioctl(/dev/driverA, TEST_DRIVERA, {fd}): the test driver maps the buffer and reads it. */
function driverA(k: Kernel, fd: number, address: number, size: number): void {
  const info = k.userBuffer(buf_info.size);
  info.view.setInt32(buf_info.fd, fd, true);
  info.view.setBigUint64(buf_info.buf, BigInt(address), true);
  info.view.setUint32(buf_info.size_, size, true);
  const dev = k.open("/dev/driverA", O_RDWR);
  try {
    k.ioctl(dev, TEST_DRIVERA, info);
  } finally {
    k.close(dev);
  }
}

/** A device that keeps the buffer mapped (a V4L2/DRM importer's life), doing DMA by address. */
function persistentDevice(m: SimMachine, p: SimProcess, fd: number) {
  const d = dma_buf_get(m.find_task_by_vpid(p.pid)!, fd);
  const a: dma_buf_attachment = dma_buf_attach(d, { name: "isp0", dma_mask: 0xffff_ffffn });
  const sgt: sg_table = dma_buf_map_attachment(a, DMA_BIDIRECTIONAL);
  const phys = sgt.entries[0].dma_address;
  return {
    read: (off: number, n: number) => m.phys_read(phys + off, n),
    write: (off: number, b: Uint8Array) => m.phys_write(phys + off, b),
  };
}

Deno.test("coherency: the library's read/write/readWrite and the two-driver run make no report", () => {
  const { m, p } = board("strict");
  for (const heapName of [CMA, "system"]) {
    using heap = openHeap(heapName, { kernel: p });
    using buf = heap.allocate(1 << 20);
    using map = buf.map();
    map.write((b) => b.set(enc.encode("driverA: userspace!\0")));
    driverA(p, buf.fd, map.address, buf.size);
    // The driver wrote its string through its vmap (a CPU alias: same cache).
    assert.equal(
      map.read((b) => new TextDecoder().decode(b.subarray(0, b.indexOf(0)))),
      DRIVER_A_STRING,
    );
    map.readWrite((b) => (b[100] = 7));
    const dev = persistentDevice(m, p, buf.fd);
    assert.equal(dev.read(100, 1)[0], 7);
    dev.write(200, new Uint8Array([9]));
    assert.equal(map.read((b) => b[200]), 9);
  }
  assert.equal(m.coherencyReportCount(), 0);
  assert.equal(m.warningCount(), 0);
});

Deno.test("coherency: a write with no SYNC END passes on the coherent board, is reported on the non-coherent one, and is clean once END is added", () => {
  const run = (m: SimMachine, p: SimProcess, end: boolean) => {
    using heap = openHeap(CMA, { kernel: p });
    using buf = heap.allocate(1 << 20);
    using map = buf.map();
    buf.beginCpuAccess("write");
    map.bytes.set(enc.encode("driverA: userspace!\0"), 0x1000);
    if (end) buf.endCpuAccess("write");
    driverA(p, buf.fd, map.address, buf.size);
    return m;
  };
  // An x86-like board: the caches snoop DMA, so the missing END goes unnoticed there.
  const coherent = createSimMachine({ coherency: "coherent" });
  assert.equal(coherent.sanitizer, "off");
  run(coherent, coherent.process(), false);
  assert.equal(coherent.coherencyReportCount(), 0);

  // The default machine is the seed's non-coherent arm64 board, sanitizer "report".
  const m = createSimMachine();
  assert.equal(m.coherency, "non-coherent");
  assert.equal(m.sanitizer, "report");
  const p = m.process("app");
  run(m, p, false);
  assert.equal(m.coherencyReportCount("cpu-write-not-cleaned"), 1);
  const r = m.coherencyReports[0];
  assert.equal(r.offset, 0x1000);
  assert.equal(r.length, 64);
  assert.match(
    r.text,
    /buffer ino \d+ \[0x1000-0x1040\): CPU wrote 64 bytes at 0x1000 with no SYNC END\(WRITE\) before driverA \(map_attachment\) read them/,
  );
  assert.match(r.syncStack ?? "", /coherency_test\.ts/, "the stack of the SYNC START call");
  assert.match(p.syslog(), /dma-buf coherency: cpu-write-not-cleaned/);

  const fixed = board();
  run(fixed.m, fixed.p, true);
  assert.equal(fixed.m.coherencyReportCount(), 0);

  const strict = board("strict");
  assert.throws(() => run(strict.m, strict.p, false), CoherencyViolation);
});

Deno.test("coherency: a device that keeps the buffer mapped reads memory, not the CPU's dirty lines", () => {
  const { m, p } = board();
  using heap = openHeap("system", { kernel: p });
  using buf = heap.allocate(8192);
  using map = buf.map();
  buf.setName("frame");
  const dev = persistentDevice(m, p, buf.fd);
  buf.beginCpuAccess("write");
  map.bytes.fill(0xaa, 0, 100); // lines 0 and 1
  // No END(WRITE): the device sees the old zeros, as on the board.
  assert.deepEqual(dev.read(0, 128), new Uint8Array(128));
  assert.equal(m.coherencyReportCount("cpu-write-not-cleaned"), 1);
  assert.equal(m.coherencyReports[0].name, "frame");
  assert.equal(m.coherencyReports[0].length, 128);
  buf.endCpuAccess("write");
  assert.deepEqual(dev.read(0, 4), new Uint8Array(4).fill(0xaa));
  assert.equal(m.coherencyReportCount(), 1);
});

Deno.test("coherency: with the sanitizer off, SYNC END cleans only through a mapped attachment, as the heaps do", () => {
  // system_heap.c/cma_heap.c end_cpu_access: dma_sync_sgtable_for_device() per *mapped*
  // attachment. Nothing mapped: the lines stay dirty until a dma_map_sgtable cleans them.
  const { m, p } = board("off");
  using heap = openHeap("system", { kernel: p });
  using buf = heap.allocate(4096);
  using map = buf.map();
  const d = dma_buf_get(m.find_task_by_vpid(p.pid)!, buf.fd);
  const a = dma_buf_attach(d, { name: "isp0", dma_mask: 0xffff_ffffn });
  const sgt = dma_buf_map_attachment(a, DMA_BIDIRECTIONAL);
  const at = sgt.entries[0].dma_address;
  // Mapped: END(WRITE) cleans, the device reads the CPU's bytes.
  map.write((b) => b.fill(0x11, 0, 64));
  assert.deepEqual(m.phys_read(at, 4), new Uint8Array(4).fill(0x11));
  // Unmapped: END(WRITE) leaves the line dirty; memory still holds 0x11 …
  dma_buf_unmap_attachment(a, sgt, DMA_BIDIRECTIONAL);
  map.write((b) => b.fill(0x22, 0, 64));
  assert.deepEqual(m.phys_read(at, 4), new Uint8Array(4).fill(0x11));
  // … until the next map cleans it, before the device can read.
  dma_buf_map_attachment(a, DMA_BIDIRECTIONAL);
  assert.deepEqual(m.phys_read(at, 4), new Uint8Array(4).fill(0x22));
  assert.equal(m.coherencyReportCount(), 0);
});

Deno.test("coherency: without SYNC START(READ) the CPU sees stale lines after a device write", () => {
  const { m, p } = board();
  using heap = openHeap(CMA, { kernel: p });
  using buf = heap.allocate(4096);
  using map = buf.map();
  map.read((b) => b[0]); // the line is in the cache now
  const dev = persistentDevice(m, p, buf.fd);
  dev.write(64, new Uint8Array([1, 2, 3]));
  // Raw access, no START(READ): the cache still holds the zeros.
  assert.deepEqual(map.bytes.subarray(64, 67), new Uint8Array(3));
  buf.endCpuAccess("read");
  assert.equal(m.coherencyReportCount("cpu-read-not-invalidated"), 1);
  assert.match(m.coherencyReports.at(-1)!.text, /CPU read lines a DMA write at 0x[0-9a-f]+ wrote/);
  assert.equal(m.coherencyReportCount("direction-mismatch"), 1, "END(READ) without START");
  // START(READ) invalidates: the device's bytes appear.
  buf.beginCpuAccess("read");
  assert.deepEqual(map.bytes.subarray(64, 67), new Uint8Array([1, 2, 3]));
  buf.endCpuAccess("read");
  assert.equal(m.coherencyReportCount(), 2);
});

Deno.test("coherency: END(READ) after START(WRITE), and writes inside a READ access, are reported", () => {
  const { m, p } = board();
  using heap = openHeap("system", { kernel: p });
  using buf = heap.allocate(4096);
  using map = buf.map();
  buf.beginCpuAccess("write");
  map.bytes[0] = 1;
  buf.endCpuAccess("read");
  assert.equal(m.coherencyReportCount("direction-mismatch"), 1);
  assert.match(m.coherencyReports[0].text, /SYNC END\(READ\) after SYNC START\(WRITE\)/);
  buf.beginCpuAccess("read");
  map.bytes[300] = 1;
  buf.endCpuAccess("read");
  assert.equal(m.coherencyReportCount("direction-mismatch"), 2);
  assert.match(
    m.coherencyReports[1].text,
    /CPU wrote 64 bytes at 0x100 with no SYNC END\(WRITE\), found at the SYNC END\(READ\)/,
  );
  assert.equal(m.coherencyReports[1].writer, "CPU");
  const strict = board("strict");
  using h2 = openHeap("system", { kernel: strict.p });
  using b2 = h2.allocate(4096);
  b2.beginCpuAccess("write");
  assert.throws(
    () => b2.endCpuAccess("read"),
    (e) => e instanceof CoherencyViolation && e.kind === "direction-mismatch",
  );
});

Deno.test("coherency: START(READ) while a device has it mapped discards CPU writes not cleaned", () => {
  const { m, p } = board();
  using heap = openHeap(CMA, { kernel: p });
  using buf = heap.allocate(4096);
  using map = buf.map();
  persistentDevice(m, p, buf.fd);
  map.bytes[5] = 42; // no sync at all
  buf.beginCpuAccess("read");
  assert.equal(map.bytes[5], 0, "the dirty line was invalidated, not written back");
  buf.endCpuAccess("read");
  assert.equal(m.coherencyReportCount("cpu-write-discarded"), 1);
});

Deno.test("coherency: eviction is deterministic per seed and still reported", () => {
  const seen = (seed: number) => {
    const { m, p } = board("report", seed);
    using heap = openHeap("system", { kernel: p });
    using buf = heap.allocate(4096);
    using map = buf.map();
    const dev = persistentDevice(m, p, buf.fd);
    map.bytes.fill(0x55); // 64 lines, no END
    const got = dev.read(0, 4096);
    let lines = 0;
    for (let l = 0; l < 64; l++) if (got[l * 64] === 0x55) lines++;
    return { lines, reported: m.coherencyReports.reduce((n, r) => n + r.length, 0) };
  };
  const a = seen(1), b = seen(1);
  assert.deepEqual(a, b);
  assert.ok(a.lines > 0 && a.lines < 64, `some lines evicted early (${a.lines})`);
  assert.equal(a.reported, 4096, "evicted or not, every unsynced line is reported");
});

Deno.test("coherency: a three-stage pipeline (the queue driver's DMA) is right and makes no report", async () => {
  const { m, p: kernel } = board("strict");
  for (const heapName of [CMA, "system"]) {
    using heap = openHeap(heapName, { kernel });
    using pool = createBufferPool(heap, { count: 2, size: 1 << 16, name: "frame" });
    const stages = [
      openStage("/dev/driverA", { op: "invert", kernel }),
      openStage("/dev/driverB", { op: "increment", kernel }),
      openStage("/dev/driverA", { op: "invert", kernel }),
    ];
    let frames = 0;
    await new Pipeline(stages, pool).run({
      frames: 6,
      produce: (b, frame) => b.mapping.write((bytes) => bytes.fill(frame * 7 + 3)),
      consume: (f) => {
        const want = (f.frame * 7 + 3 - 1) & 0xff;
        f.buffer.mapping.read((bytes) => assert.ok(bytes.every((v) => v === want)));
        assert.equal(f.results[2].checksum, want * (1 << 16));
        frames++;
      },
    });
    assert.equal(frames, 6);
    for (const s of stages) s.close();
  }
  assert.equal(m.coherencyReportCount(), 0);
});

Deno.test("coherency: a pipeline producer that skips SYNC END is reported, though the stage's map hides it", async () => {
  const { m, p: kernel } = board();
  using heap = openHeap("system", { kernel });
  using pool = createBufferPool(heap, { count: 1, size: 4096 });
  using stage = openStage("/dev/driverA", { op: "invert", kernel });
  const got: number[] = [];
  await new Pipeline([stage], pool).run({
    frames: 1,
    produce: (b) => {
      b.buffer.beginCpuAccess("write");
      b.mapping.bytes.fill(0x0f); // no END(WRITE)
    },
    consume: (f) => {
      f.buffer.mapping.read((bytes) => got.push(bytes[0]));
    },
  });
  // The stage's map cleaned the lines (arm64 dma_map_sgtable), so the data arrived; the protocol
  // was still broken, and the sanitizer says where.
  assert.deepEqual(got, [0xf0]);
  assert.equal(m.coherencyReportCount("cpu-write-not-cleaned"), 1);
  assert.match(m.coherencyReports[0].text, /before driverA \(map_attachment\) read them/);
});

Deno.test("coherency: lines holding NaN bit patterns are clean once written back", () => {
  const { m, p } = board("strict");
  using heap = openHeap("system", { kernel: p });
  using buf = heap.allocate(4096);
  using map = buf.map();
  map.write((b) => b.fill(0xff)); // every 8 bytes a NaN as a float64
  const dev = persistentDevice(m, p, buf.fd);
  assert.deepEqual(dev.read(0, 4096), new Uint8Array(4096).fill(0xff));
  map.read((b) => assert.equal(b[4095], 0xff));
  assert.equal(m.coherencyReportCount(), 0);
});

Deno.test("coherency: after strict mode throws at SYNC END, the access is closed and correct accesses pass", () => {
  const { m, p } = board("strict");
  using heap = openHeap("system", { kernel: p });
  using buf = heap.allocate(4096);
  using map = buf.map();
  // START(WRITE), a write, END(READ): a direction mismatch, thrown at the END.
  buf.beginCpuAccess("write");
  map.bytes[0] = 1;
  assert.throws(
    () => buf.endCpuAccess("read"),
    (e) => e instanceof CoherencyViolation && e.kind === "direction-mismatch",
  );
  const n = m.coherencyReportCount();
  // The violation was thrown; the buffer's CPU access must not stay open for later code.
  map.write((w) => w.fill(2));
  assert.equal(map.read((r) => r[4095]), 2);
  assert.equal(
    m.coherencyReportCount(),
    n,
    m.coherencyReports.slice(n).map((r) => r.text).join("\n"),
  );
});

Deno.test("coherency: in strict mode a pipeline producer that skips SYNC fails the run (the stage's job fails with EIO) instead of hanging", async () => {
  const { m, p: kernel } = board("strict");
  using heap = openHeap("system", { kernel });
  using pool = createBufferPool(heap, { count: 2, size: 4096 });
  using stage = openStage("/dev/driverA", { op: "invert", kernel });
  await assert.rejects(
    new Pipeline([stage], pool).run({
      frames: 3,
      signal: AbortSignal.timeout(5000),
      produce: (b) => void b.mapping.bytes.fill(1), // no SYNC at all
    }),
    (e: Error & { code?: string }) => e.code === "EIO",
  );
  assert.ok(m.coherencyReportCount("cpu-write-not-cleaned") >= 1);
  assert.equal(pool.available, 2, "every buffer is back in the pool");
  assert.match(
    m.log.dmesg(),
    /workqueue: work item failed: dma-buf coherency: cpu-write-not-cleaned/,
  );
});

Deno.test("coherency: nested and overlapping scoped accesses join one SYNC pair or are refused (EBUSY), never unbalanced", async () => {
  const { m, p } = board("strict");
  using heap = openHeap("system", { kernel: p });
  using buf = heap.allocate(4096);
  using map = buf.map();
  using other = buf.map(); // a second mapping of the same buffer shares the open access
  // A read inside a readWrite joins it: one START(RW)…END(RW), no report (before: END(READ)
  // after START(RW), a direction-mismatch that strict mode threw).
  const got = map.readWrite((b) => {
    b[0] = 7;
    return other.read((r) => r[0]);
  });
  assert.equal(got, 7);
  // A read inside a write is refused before any sync; the write still completes.
  map.write((b) => {
    b[1] = 9;
    assert.throws(
      () => other.read((r) => r[1]),
      (e) =>
        e instanceof Deno.errors.Busy && (e as { code?: string }).code === "EBUSY" &&
        /a write access to this buffer is still open/.test((e as Error).message),
    );
  });
  assert.equal(map.read((b) => b[1]), 9);
  // Two overlapping async reads share one access; its END comes after the second settles.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = map.read(async (b) => {
    await gate;
    return b[0];
  });
  const second = other.read((b) => Promise.resolve(b[1]));
  // While they are pending, a write cannot start.
  assert.throws(() => map.write((b) => b.fill(0)), Deno.errors.Busy);
  release();
  assert.deepEqual(await Promise.all([first, second]), [7, 9]);
  // All closed: a write opens a fresh access.
  map.write((b) => (b[2] = 1));
  assert.equal(m.coherencyReportCount(), 0);
});
