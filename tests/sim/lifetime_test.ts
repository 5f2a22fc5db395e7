import assert from "node:assert/strict";
import { KernelBug, SimMachine, type SimProcess } from "../../src/sim/mod.ts";
import {
  dma_buf_attach,
  dma_buf_detach,
  dma_buf_get,
  dma_buf_map_attachment,
  dma_buf_put,
  dma_buf_unmap_attachment,
  dma_buf_vmap,
  dma_buf_vunmap,
  DMA_TO_DEVICE,
} from "../../src/sim/dma_buf.ts";
import { alloc } from "./_helpers.ts";
import { misc_register, type miscdevice } from "../../src/sim/miscdevice.ts";
import { DMA_BIT_MASK, dma_set_mask_and_coherent } from "../../src/sim/dma_mapping.ts";
import type { device } from "../../src/sim/dma_buf.ts";

const dma_buf_set_mask = (dev: device) => dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32));
import { buf_info, DRIVER_A_STRING, TEST_DRIVERA } from "../../src/uapi/test_driver.ts";
import { MAP_SHARED, O_RDWR, PROT_READ, PROT_WRITE } from "../../src/uapi/constants.ts";

const dev = { name: "lifetime-dev", dma_mask: 0xffffffffn };

function buffer(strict = false) {
  const m = new SimMachine({ strict });
  const k = m.process();
  const fd = alloc(k, k.open("/dev/dma_heap/system", O_RDWR), 8192);
  return { m, k, fd };
}

function driverA(k: SimProcess, fd: number, address: number) {
  const info = k.userBuffer(buf_info.size);
  info.view.setInt32(buf_info.fd, fd, true);
  info.view.setBigUint64(buf_info.buf, BigInt(address), true);
  info.view.setUint32(buf_info.size_, 8192, true);
  return k.ioctl(k.open("/dev/driverA", O_RDWR), TEST_DRIVERA, info, "TEST_DRIVERA");
}

Deno.test("seed's original order (put before vmap) passes while user space holds the buffer", () => {
  const { m, k, fd } = buffer();
  m.testDriver!.options = { order: "put-before-vmap" };
  const r = k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  assert.equal(driverA(k, fd, r.address), 0);
  assert.equal(
    new TextDecoder().decode(new Uint8Array(r.buffer, r.byteOffset, 21)),
    DRIVER_A_STRING,
  );
  assert.equal(m.warnings.length, 0);
});

Deno.test("seed's original order is caught when the driver's put was the last reference", () => {
  const { m, k, fd } = buffer();
  // Another thread closes the fd while the driver runs: the driver's get is now the only ref.
  m.testDriver!.options = { order: "put-before-vmap", afterGet: () => k.close(fd) };
  const info = k.userBuffer(buf_info.size);
  info.view.setInt32(buf_info.fd, fd, true);
  assert.equal(k.ioctl(k.open("/dev/driverA", O_RDWR), TEST_DRIVERA, info), 0);
  const kinds = m.warnings.map((w) => w.kind);
  assert.deepEqual([...new Set(kinds)], ["use-after-put"]);
  assert.deepEqual(m.warnings.map((w) => w.func), [
    "dma_buf_vmap",
    "dma_buf_vunmap",
  ]);
  assert.match(
    k.syslog(),
    /WARNING: CPU: 0 PID: \d+ at drivers\/dma-buf\/dma-buf.c dma_buf_vmap: use of dma_buf \(ino 1\) after its last reference was put\n/,
  );
  // The fixed order survives the same race: the buffer lives until the driver's put.
  const b = buffer();
  b.m.testDriver!.options = { afterGet: () => b.k.close(b.fd) };
  info.view.setInt32(buf_info.fd, b.fd, true);
  const info2 = b.k.userBuffer(buf_info.size);
  info2.bytes.set(info.bytes);
  assert.equal(b.k.ioctl(b.k.open("/dev/driverA", O_RDWR), TEST_DRIVERA, info2), 0);
  assert.equal(b.m.warnings.length, 0);
  assert.equal(
    b.k.readText("/sys/kernel/debug/dma_buf/bufinfo").endsWith("Total 0 objects, 0 bytes\n"),
    true,
  );
});

Deno.test("strict mode throws KernelBug for the seed's use after put", () => {
  const { m, k, fd } = buffer(true);
  m.testDriver!.options = { order: "put-before-vmap", afterGet: () => k.close(fd) };
  const info = k.userBuffer(buf_info.size);
  info.view.setInt32(buf_info.fd, fd, true);
  assert.throws(
    () => k.ioctl(k.open("/dev/driverA", O_RDWR), TEST_DRIVERA, info),
    (e: unknown) => e instanceof KernelBug && e.kind === "use-after-put",
  );
});

Deno.test("unbalanced vunmap warns; vmap is refcounted", () => {
  const { m, k, fd } = buffer();
  const d = dma_buf_get(k, fd);
  const a = dma_buf_vmap(d), b = dma_buf_vmap(d);
  assert.equal(a.vaddr, b.vaddr);
  assert.equal(d.vmapping_counter, 2);
  dma_buf_vunmap(d, a);
  dma_buf_vunmap(d, b);
  assert.equal(m.warnings.length, 0);
  dma_buf_vunmap(d, b);
  assert.deepEqual(m.warnings.map((w) => w.kind), ["vmap-unbalanced"]);
  dma_buf_put(d);
});

Deno.test("releasing a vmapped or attached buffer warns", () => {
  const { m, k, fd } = buffer();
  const d = dma_buf_get(k, fd);
  dma_buf_vmap(d);
  dma_buf_attach(d, dev);
  dma_buf_put(d);
  k.close(fd);
  assert.deepEqual(m.warnings.map((w) => w.kind), ["vmapped-at-release", "attached-at-release"]);
});

Deno.test("map after detach, detach while mapped and unbalanced unmap warn", () => {
  const { m, k, fd } = buffer();
  const d = dma_buf_get(k, fd);
  const a = dma_buf_attach(d, dev);
  const sgt = dma_buf_map_attachment(a, DMA_TO_DEVICE);
  dma_buf_detach(d, a);
  assert.deepEqual(m.warnings.map((w) => w.kind), ["detach-while-mapped"]);
  assert.throws(() => dma_buf_map_attachment(a, DMA_TO_DEVICE), { errno: 22 });
  dma_buf_unmap_attachment(a, sgt, DMA_TO_DEVICE);
  assert.deepEqual(m.warnings.map((w) => w.kind), [
    "detach-while-mapped",
    "map-after-detach",
    "map-after-detach",
  ]);
  const b = dma_buf_attach(d, dev);
  const sgt2 = dma_buf_map_attachment(b, DMA_TO_DEVICE);
  dma_buf_unmap_attachment(b, sgt2, DMA_TO_DEVICE);
  assert.equal(m.warningCount("map-unbalanced"), 0);
  dma_buf_unmap_attachment(b, sgt2, DMA_TO_DEVICE);
  assert.equal(m.warningCount("map-unbalanced"), 1);
  dma_buf_detach(d, b);
  dma_buf_put(d);
  assert.equal(m.warnings.length, 4);
});

Deno.test("a put too many is a use after put", () => {
  const { m, k, fd } = buffer();
  const d = dma_buf_get(k, fd);
  dma_buf_put(d);
  k.close(fd);
  dma_buf_put(d);
  assert.deepEqual(m.warnings.map((w) => w.kind), ["use-after-put"]);
});

Deno.test("mapping for a misc device without a DMA mask warns and fails with EIO", () => {
  const { m, k, fd } = buffer();
  const misc: miscdevice = { name: "nomask", fops: {} };
  misc_register(m, misc);
  assert.equal(k.readDir("/dev").includes("nomask"), true);
  const d = dma_buf_get(k, fd);
  const a = dma_buf_attach(d, misc.this_device!);
  assert.throws(() => dma_buf_map_attachment(a, DMA_TO_DEVICE), { errno: 5 });
  assert.deepEqual(m.warnings.map((w) => w.kind), ["dma-mask-missing"]);
  dma_buf_set_mask(misc.this_device!);
  const sgt = dma_buf_map_attachment(a, DMA_TO_DEVICE);
  assert.deepEqual(sgt.entries.map((e) => e.length), [4096, 4096]); // 8 KiB: two order-0 pages
  dma_buf_unmap_attachment(a, sgt, DMA_TO_DEVICE);
  dma_buf_detach(d, a);
  dma_buf_put(d);
  assert.equal(m.warnings.length, 1);
});
