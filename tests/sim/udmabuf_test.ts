/**
 * udmabuf: the kernel selftest's cases (tools/testing/selftests/drivers/dma-buf/udmabuf.c) and
 * the driver's rules (kernel-abi §3).
 */
import assert from "node:assert/strict";
import { SimMachine, type SimProcess } from "../../src/sim/mod.ts";
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
import { assertErrno, fdinfo } from "./_helpers.ts";
import {
  UDMABUF_CREATE,
  udmabuf_create,
  udmabuf_create_item,
  UDMABUF_CREATE_LIST,
  udmabuf_create_list,
  UDMABUF_FLAGS_CLOEXEC,
} from "../../src/uapi/udmabuf.ts";
import { DMA_BUF_IOCTL_SYNC } from "../../src/uapi/dma_buf.ts";
import {
  F_ADD_SEALS,
  F_GET_SEALS,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_ALLOW_SEALING,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  SEEK_END,
} from "../../src/uapi/constants.ts";

const PAGE = 4096;

function setup(coherency: "coherent" | "non-coherent" = "non-coherent") {
  const m = new SimMachine({ coherency });
  const k = m.process();
  return { m, k, dev: k.open("/dev/udmabuf", O_RDWR) };
}

/** The selftest's `create_memfd_with_seals(size, false)`. */
function sealedMemfd(k: SimProcess, size: number): number {
  const memfd = k.memfdCreate("udmabuf-test", MFD_ALLOW_SEALING);
  k.fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK);
  k.ftruncate(memfd, size);
  return memfd;
}

function create(
  k: SimProcess,
  dev: number,
  memfd: number,
  offset: number,
  size: number,
  flags = 0,
) {
  const ub = k.userBuffer(udmabuf_create.size);
  ub.view.setUint32(udmabuf_create.memfd, memfd, true);
  ub.view.setUint32(udmabuf_create.flags, flags, true);
  ub.view.setBigUint64(udmabuf_create.offset, BigInt(offset), true);
  ub.view.setBigUint64(udmabuf_create.size_, BigInt(size), true);
  return k.ioctl(dev, UDMABUF_CREATE, ub, "UDMABUF_CREATE");
}

function createList(
  k: SimProcess,
  dev: number,
  items: { memfd: number; offset: number; size: number }[],
  flags = 0,
  count = items.length,
) {
  const ub = k.userBuffer(udmabuf_create_list.size + items.length * udmabuf_create_item.size);
  ub.view.setUint32(udmabuf_create_list.flags, flags, true);
  ub.view.setUint32(udmabuf_create_list.count, count, true);
  items.forEach((it, i) => {
    const at = udmabuf_create_list.list + i * udmabuf_create_item.size;
    ub.view.setUint32(at + udmabuf_create_item.memfd, it.memfd, true);
    ub.view.setBigUint64(at + udmabuf_create_item.offset, BigInt(it.offset), true);
    ub.view.setBigUint64(at + udmabuf_create_item.size_, BigInt(it.size), true);
  });
  return k.ioctl(dev, UDMABUF_CREATE_LIST, ub, "UDMABUF_CREATE_LIST");
}

Deno.test("udmabuf selftest 1-4: alignment, stdin, and a valid create", () => {
  const { k, dev } = setup();
  const memfd = sealedMemfd(k, 4 * PAGE);
  assertErrno(() => create(k, dev, memfd, PAGE / 2, PAGE), "EINVAL", "ioctl(UDMABUF_CREATE)");
  assertErrno(() => create(k, dev, memfd, 0, PAGE / 2), "EINVAL");
  assertErrno(() => create(k, dev, 0, 0, 4 * PAGE), "EBADFD");
  const fd = create(k, dev, memfd, 0, 4 * PAGE);
  assert.ok(fd > memfd);
  const info = fdinfo(k, fd);
  assert.equal(info.get("exp_name"), "udmabuf");
  assert.equal(info.get("size"), String(4 * PAGE));
  assert.equal(info.get("flags"), "02");
  assert.equal(k.lseek(fd, 0, SEEK_END), 4 * PAGE);
});

Deno.test("udmabuf selftest 5: a list of ranges shows the memfd's pages", () => {
  const { k, dev } = setup();
  const size = 1024 * PAGE;
  const memfd = sealedMemfd(k, size);
  const addr1 = k.mmap(memfd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  new Uint8Array(addr1.buffer, addr1.byteOffset, size).fill("a".charCodeAt(0));
  const items = [0, 1, 2, 3].map((i) => ({ memfd, offset: i * (size / 4), size: 4 * PAGE }));
  const buf = createList(k, dev, items, UDMABUF_FLAGS_CLOEXEC);
  assert.equal(fdinfo(k, buf).get("flags"), "02000002");
  const addr2 = k.mmap(buf, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  new Uint8Array(addr1.buffer, addr1.byteOffset, size).fill("b".charCodeAt(0));
  const a1 = new Uint8Array(addr1.buffer, addr1.byteOffset, size);
  const a2 = new Uint8Array(addr2.buffer, addr2.byteOffset, addr2.length);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4 * PAGE; j++) {
      if (a1[i * (size / 4) + j] !== a2[i * 4 * PAGE + j]) {
        assert.fail(`chunk ${i} byte ${j} differs`);
      }
    }
  }
  assert.equal(a2[0], "b".charCodeAt(0));
});

Deno.test("udmabuf of one range aliases the memfd both ways, and the sg table is its pages", () => {
  // A coherent board: a device's write is seen by the CPU at once (the non-coherent board's
  // caches are udmabuf_coherency_test.ts's).
  const { m, k, dev } = setup("coherent");
  const memfd = sealedMemfd(k, 8 * PAGE);
  const fd = create(k, dev, memfd, 2 * PAGE, 4 * PAGE);
  const mf = k.mmap(memfd, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  const ub = k.mmap(fd, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  new Uint8Array(mf.buffer, mf.byteOffset + 2 * PAGE + 10, 1)[0] = 0x5a;
  assert.equal(new Uint8Array(ub.buffer, ub.byteOffset, 16)[10], 0x5a);
  new Uint8Array(ub.buffer, ub.byteOffset + PAGE, 1)[0] = 0x33;
  assert.equal(new Uint8Array(mf.buffer, mf.byteOffset, 8 * PAGE)[3 * PAGE], 0x33);
  const d = dma_buf_get(k, fd);
  const a = dma_buf_attach(d, { name: "dev", dma_mask: 0xffffffffn });
  const sgt = dma_buf_map_attachment(a, DMA_TO_DEVICE);
  const total = sgt.entries.reduce((n, e) => n + e.length, 0);
  assert.equal(total, 4 * PAGE);
  assert.deepEqual([...m.phys_read(sgt.entries[0].dma_address + 10, 1)], [0x5a]);
  m.phys_write(sgt.entries[0].dma_address + 11, new Uint8Array([0x77]));
  assert.equal(new Uint8Array(mf.buffer, mf.byteOffset, 8 * PAGE)[2 * PAGE + 11], 0x77);
  const map = dma_buf_vmap(d);
  assert.equal(map.bytes[11], 0x77);
  dma_buf_vunmap(d, map);
  dma_buf_unmap_attachment(a, sgt, DMA_TO_DEVICE);
  dma_buf_detach(d, a);
  dma_buf_put(d);
  assert.equal(m.warnings.length, 0);
});

Deno.test("udmabuf: kernel writes to a several-range buffer reach the memfd", () => {
  const { k, dev } = setup();
  const memfd = sealedMemfd(k, 4 * PAGE);
  const fd = createList(k, dev, [
    { memfd, offset: 2 * PAGE, size: PAGE },
    { memfd, offset: 0, size: PAGE },
  ]);
  const d = dma_buf_get(k, fd);
  const map = dma_buf_vmap(d);
  map.bytes.set([1, 2, 3], PAGE); // second page of the udmabuf = memfd page 0
  dma_buf_vunmap(d, map);
  dma_buf_put(d);
  const mf = k.mmap(memfd, 4 * PAGE, PROT_READ, MAP_SHARED, 0);
  assert.deepEqual([...new Uint8Array(mf.buffer, mf.byteOffset, 3)], [1, 2, 3]);
  // And user writes through the udmabuf mapping reach it at SYNC END.
  const ubm = k.mmap(fd, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  const sync = k.userBuffer(8);
  sync.view.setBigUint64(0, 3n, true);
  k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync);
  new Uint8Array(ubm.buffer, ubm.byteOffset, 2 * PAGE)[0] = 9; // udmabuf page 0 = memfd page 2
  sync.view.setBigUint64(0, 7n, true);
  k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync);
  assert.equal(new Uint8Array(mf.buffer, mf.byteOffset, 4 * PAGE)[2 * PAGE], 9);
});

Deno.test("udmabuf: seals, EOF, limits and list errors", () => {
  const { k, dev } = setup();
  const unsealed = k.memfdCreate("plain", 0); // no MFD_ALLOW_SEALING: F_SEAL_SEAL set
  k.ftruncate(unsealed, PAGE);
  assert.equal(k.fcntl(unsealed, F_GET_SEALS, 0), F_SEAL_SEAL);
  assertErrno(() => k.fcntl(unsealed, F_ADD_SEALS, F_SEAL_SHRINK), "EPERM");
  assertErrno(() => create(k, dev, unsealed, 0, PAGE), "EINVAL");
  const noShrink = k.memfdCreate("x", MFD_ALLOW_SEALING);
  k.ftruncate(noShrink, PAGE);
  assertErrno(() => create(k, dev, noShrink, 0, PAGE), "EINVAL");
  const writeSealed = sealedMemfd(k, PAGE);
  k.fcntl(writeSealed, F_ADD_SEALS, F_SEAL_WRITE);
  assertErrno(() => create(k, dev, writeSealed, 0, PAGE), "EINVAL");
  const memfd = sealedMemfd(k, 4 * PAGE);
  assertErrno(() => create(k, dev, memfd, 0, 5 * PAGE), "EINVAL"); // past EOF
  assertErrno(() => create(k, dev, memfd, 0, 0), "EINVAL");
  assertErrno(() => create(k, dev, 999, 0, PAGE), "EBADFD");
  const heapBuf = k.open("/dev/dma_heap/system", O_RDWR);
  assertErrno(() => create(k, dev, heapBuf, 0, PAGE), "EBADFD");
  const big = sealedMemfd(k, 65 * 1024 * 1024);
  assertErrno(() => create(k, dev, big, 0, 65 * 1024 * 1024), "EINVAL");
  assert.ok(create(k, dev, big, 0, 64 * 1024 * 1024) > 0);
  assertErrno(() => createList(k, dev, [], 0, 1025), "EINVAL");
  assertErrno(() => createList(k, dev, [], 0, 0), "EINVAL");
  assertErrno(() => createList(k, dev, [], 0, 2), "EFAULT");
  assertErrno(() => k.ioctl(dev, UDMABUF_CREATE, null), "EFAULT");
  assertErrno(() => k.ioctl(dev, 0x40187544, k.userBuffer(24)), "ENOTTY");
  // Growing after F_SEAL_SHRINK is allowed, shrinking is not.
  k.ftruncate(memfd, 8 * PAGE);
  assertErrno(() => k.ftruncate(memfd, PAGE), "EPERM");
});

Deno.test("udmabuf: mmap needs MAP_SHARED; END before START is EINVAL and warns", () => {
  const { m, k, dev } = setup();
  const fd = create(k, dev, sealedMemfd(k, PAGE), 0, PAGE);
  assertErrno(() => k.mmap(fd, PAGE, PROT_READ, MAP_PRIVATE, 0), "EINVAL");
  const sync = k.userBuffer(8);
  sync.view.setBigUint64(0, 7n, true);
  assertErrno(() => k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync, "DMA_BUF_IOCTL_SYNC"), "EINVAL");
  assert.deepEqual(m.warnings.map((w) => w.kind), ["end-without-begin"]);
  sync.view.setBigUint64(0, 3n, true);
  assert.equal(k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync), 0);
  sync.view.setBigUint64(0, 7n, true);
  assert.equal(k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync), 0);
});

Deno.test("udmabuf keeps the memfd's pages after the memfd is closed", () => {
  const { m, k, dev } = setup();
  const free = m.freePages;
  const memfd = sealedMemfd(k, 4 * PAGE);
  const mf = k.mmap(memfd, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  new Uint8Array(mf.buffer, mf.byteOffset, 1)[0] = 42;
  const fd = create(k, dev, memfd, 0, 4 * PAGE);
  assert.equal(m.freePages, free - 4);
  k.munmap(mf);
  k.close(memfd);
  const r = k.mmap(fd, 4 * PAGE, PROT_READ, MAP_SHARED, 0);
  assert.equal(new Uint8Array(r.buffer, r.byteOffset, 1)[0], 42);
  k.munmap(r);
  k.close(fd);
  assert.equal(m.freePages, free);
});
