import assert from "node:assert/strict";
import {
  createSimMachine,
  defaultSimMachine,
  SimMachine,
  simulatedKernel,
} from "../../src/sim/mod.ts";
import { print_time } from "../../src/sim/printk.ts";
import { O_RDWR } from "../../src/uapi/constants.ts";
import { alloc } from "./_helpers.ts";

Deno.test("simulatedKernel() is one process of one default machine", () => {
  const k = simulatedKernel();
  assert.equal(k, simulatedKernel());
  assert.equal(k.kind, "simulated");
  assert.equal(k.pageSize, 4096);
  assert.equal(defaultSimMachine().defaultProcess, k);
  assert.match(k.description, /^Simulated Linux 6\.12 /);
});

Deno.test("the default machine boots like the seed's board", () => {
  const m = createSimMachine();
  const log = m.defaultProcess.syslog();
  assert.match(
    log,
    /Reserved memory: created CMA memory pool at 0x0000000068000000, size 128 MiB\n/,
  );
  assert.equal(log.match(/DMA: preallocated 128 KiB .* pool for atomic allocations/g)?.length, 3);
  for (const line of log.trimEnd().split("\n")) assert.match(line, /^\[ {0,4}\d+\.\d{6}\] /);
  assert.deepEqual(m.defaultProcess.readDir("/dev"), [
    "dma_heap",
    "dri",
    "driverA",
    "driverB",
    "null",
    "pts",
    "udmabuf",
    "video0",
    "video1",
  ]);
});

Deno.test("config: several CMA areas get a heap each; drivers can be left out", () => {
  const m = new SimMachine({
    memorySize: 256 << 20,
    cma: [
      { name: "reserved", base: 0x48000000, size: 16 << 20 },
      { name: "camera@49000000", base: 0x49000000, size: 8 << 20 },
    ],
    testDriver: false,
    udmabuf: false,
    vgem: false,
    vivid: false,
  });
  const k = m.process();
  assert.deepEqual(k.readDir("/dev/dma_heap"), ["camera@49000000", "reserved", "system"]);
  assert.deepEqual(k.readDir("/dev"), ["dma_heap", "null", "pts"]);
  const fd = alloc(k, k.open("/dev/dma_heap/camera@49000000", O_RDWR), 4096);
  assert.match(k.readText(`/proc/self/fdinfo/${fd}`), /exp_name:\tcamera@49000000\n/);
  assert.equal(m.testDriver, undefined);
  assert.equal(m.vgem, undefined);
});

Deno.test("config: a CMA region outside RAM, or a sanitizer on a coherent board, is refused, not dropped", () => {
  // 64 MiB of RAM at 0x40000000 ends at 0x44000000: the default global_cma@68000000 is not in it.
  assert.throws(
    () => new SimMachine({ memorySize: 64 << 20 }),
    (e) =>
      e instanceof RangeError &&
      /global_cma@68000000 .* is not inside the machine's memory/.test(e.message),
  );
  assert.throws(
    () =>
      new SimMachine({ memorySize: 64 << 20, cma: [{ name: "c", base: 0x44000000, size: 4096 }] }),
    RangeError,
  );
  assert.throws(
    () => new SimMachine({ cma: [{ name: "c", base: 0x40000000, size: 4096 }] }),
    RangeError,
    "inside the kernel's own first pages",
  );
  const inside = new SimMachine({
    memorySize: 64 << 20,
    cma: [{ name: "c", base: 0x43800000, size: 8 << 20 }],
  });
  assert.match(inside.process().readText("/proc/meminfo"), /CmaTotal: +8192 kB/);
  for (const sanitizer of ["report", "strict"] as const) {
    assert.throws(
      () => new SimMachine({ coherency: "coherent", sanitizer }),
      (e) => e instanceof RangeError && /needs coherency "non-coherent"/.test(e.message),
    );
  }
  assert.equal(new SimMachine({ coherency: "coherent", sanitizer: "off" }).sanitizer, "off");
  assert.throws(() => new SimMachine({ coherency: "coherent", evictionSeed: 1 }), RangeError);
  assert.throws(() => new SimMachine({ evictionSeed: NaN }), RangeError);
  assert.throws(() => new SimMachine({ evictionSeed: "7" as unknown as number }), RangeError);
});

Deno.test("config: bad memory and CMA settings are RangeErrors", () => {
  assert.throws(() => new SimMachine({ memorySize: 1000 }), RangeError);
  assert.throws(() => new SimMachine({ memorySize: 16 << 20 }), RangeError);
  const cma = (name: string, base: number, size: number) => ({ cma: [{ name, base, size }] });
  assert.throws(() => new SimMachine(cma("x", 0x68000001, 4096)), RangeError);
  assert.throws(() => new SimMachine(cma("a/b", 0x68000000, 4096)), RangeError);
  assert.throws(() => new SimMachine(cma("", 0x68000000, 4096)), RangeError);
  assert.throws(() => new SimMachine(cma("system", 0x68000000, 4096)), RangeError);
  assert.throws(
    () =>
      new SimMachine({
        cma: [{ name: "a", base: 0x68000000, size: 1 << 20 }, {
          name: "b",
          base: 0x68080000,
          size: 1 << 20,
        }],
      }),
    RangeError,
  );
});

Deno.test("print_time() formats like the kernel's [%5lu.%06lu]", () => {
  assert.equal(print_time(31_678_467_123), "[   31.678467]");
  assert.equal(print_time(0), "[    0.000000]");
  assert.equal(print_time(123456_000_001_000), "[123456.000001]");
});

Deno.test("/proc/meminfo and /proc/<pid>/comm in the kernel's formats", () => {
  const m = new SimMachine();
  const k = m.process("camera");
  const info = k.readText("/proc/meminfo");
  // show_val_kb(): label in 16 columns, value right-aligned in 8, then " kB".
  for (const line of info.trimEnd().split("\n")) assert.match(line, /^[A-Za-z]+: +\d+ kB$/);
  for (const line of info.trimEnd().split("\n")) assert.equal(line.length, 27);
  const total = Number(/^MemTotal:\s+(\d+) kB$/m.exec(info)![1]);
  assert.equal(total, 1024 * 1024 - 32 * 1024); // RAM minus the kernel's 32 MiB
  assert.match(info, /\nCmaTotal: {9}131072 kB\nCmaFree: {10}130688 kB\n$/); // 384 KiB of pools
  const free = () => Number(/^MemFree:\s+(\d+) kB$/m.exec(k.readText("/proc/meminfo"))![1]);
  const before = free();
  alloc(k, k.open("/dev/dma_heap/system", O_RDWR), 1 << 20);
  assert.equal(free(), before - 1024);
  assert.equal(k.readText(`/proc/${k.pid}/comm`), "camera\n");
  assert.equal(k.readText("/proc/self/comm"), "camera\n");
  // One thread per process in the model: the calling thread is the leader.
  assert.equal(k.readText("/proc/thread-self/comm"), "camera\n");
  assert.equal(k.readLink("/proc/thread-self"), `${k.pid}/task/${k.pid}`);
  assert.ok(k.readDir("/proc").includes("meminfo"));
});

Deno.test("sysfsStats: /sys/kernel/dmabuf/buffers/<ino> while the buffer lives", () => {
  const off = new SimMachine().process();
  assert.throws(() => off.readDir("/sys/kernel/dmabuf/buffers"), { code: "ENOENT" });
  const k = new SimMachine({ sysfsStats: true }).process();
  const fd = alloc(k, k.open("/dev/dma_heap/system", O_RDWR), 8192);
  const ino = /ino:\t(\d+)/.exec(k.readText(`/proc/self/fdinfo/${fd}`))![1];
  assert.deepEqual(k.readDir("/sys/kernel/dmabuf/buffers"), [ino]);
  assert.deepEqual(k.readDir(`/sys/kernel/dmabuf/buffers/${ino}`), ["exporter_name", "size"]);
  assert.equal(k.readText(`/sys/kernel/dmabuf/buffers/${ino}/exporter_name`), "system\n");
  assert.equal(k.readText(`/sys/kernel/dmabuf/buffers/${ino}/size`), "8192\n");
  k.close(fd);
  assert.deepEqual(k.readDir("/sys/kernel/dmabuf/buffers"), []);
  assert.throws(() => k.readText(`/sys/kernel/dmabuf/buffers/${ino}/size`), { code: "ENOENT" });
});
