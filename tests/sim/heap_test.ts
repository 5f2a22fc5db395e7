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
  type scatterlist,
} from "../../src/sim/dma_buf.ts";
import { alloc, assertErrno } from "./_helpers.ts";
import { DMA_BUF_IOCTL_SYNC } from "../../src/uapi/dma_buf.ts";
import { MAP_SHARED, O_RDWR, PROT_READ, PROT_WRITE } from "../../src/uapi/constants.ts";

const CMA = "/dev/dma_heap/global_cma@68000000";
const MiB = 1 << 20, KiB = 1024;
const dev = { name: "test-dev", dma_mask: 0xffffffffn };

/** The sg table an importer gets for `fd`, via attach + map (then undone). */
function sgOf(k: SimProcess, fd: number): scatterlist[] {
  const d = dma_buf_get(k, fd);
  const a = dma_buf_attach(d, dev);
  const sgt = dma_buf_map_attachment(a, DMA_TO_DEVICE);
  const entries = [...sgt.entries];
  dma_buf_unmap_attachment(a, sgt, DMA_TO_DEVICE);
  dma_buf_detach(d, a);
  dma_buf_put(d);
  return entries;
}

/** The physical address of buffer offset `off` according to the sg table. */
function physOf(sg: scatterlist[], off: number): number {
  for (const e of sg) {
    if (off < e.length) return e.dma_address + off;
    off -= e.length;
  }
  throw new RangeError("offset past the table");
}

Deno.test("system heap builds buffers from order 8, 4 and 0 blocks, largest first", () => {
  const k = new SimMachine().process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  const sg = sgOf(k, alloc(k, heap, MiB + 64 * KiB + 4 * KiB));
  assert.deepEqual(sg.map((e) => e.length), [MiB, 64 * KiB, 4 * KiB]);
  for (const e of sg) assert.equal(e.dma_address % e.length, 0, "blocks are naturally aligned");
  const sg2 = sgOf(k, alloc(k, heap, 3 * MiB + 3 * 4 * KiB));
  assert.deepEqual(sg2.map((e) => e.length), [MiB, MiB, MiB, 4 * KiB, 4 * KiB, 4 * KiB]);
  // RAM is 0x40000000 + 1 GiB; nothing lands in the CMA area or the kernel's first 32 MiB.
  for (const e of [...sg, ...sg2]) {
    assert.ok(e.dma_address >= 0x42000000 && e.dma_address + e.length <= 0x80000000);
    assert.ok(e.dma_address + e.length <= 0x68000000 || e.dma_address >= 0x70000000);
  }
});

Deno.test("system heap falls back to smaller blocks when large ones run out", () => {
  // 40 MiB of RAM, 32 MiB kept by the kernel: 8 MiB for the buddy allocator.
  const m = new SimMachine({ memorySize: 40 * MiB, cma: [], testDriver: false });
  const k = m.process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  // Pin one 4 KiB page in each 1 MiB block by allocating 2 MiB of 4 KiB-only buffers... simpler:
  // take all memory in 4 KiB buffers, free every other one; then no order-4 block is free.
  const fds: number[] = [];
  for (let i = 0; i < 2048; i++) fds.push(alloc(k, heap, 4096));
  assertErrno(() => alloc(k, heap, 4096), "ENOMEM");
  for (let i = 0; i < fds.length; i += 2) k.close(fds[i]);
  const sg = sgOf(k, alloc(k, heap, 64 * KiB));
  assert.deepEqual(sg.map((e) => e.length), new Array(16).fill(4 * KiB));
});

Deno.test("CMA heap buffers are contiguous and aligned to min(order, 8); boot pools come first", () => {
  const k = new SimMachine().process();
  const heap = k.open(CMA, O_RDWR);
  // The three 128 KiB DMA atomic pools hold 0x68000000-0x6805ffff since boot.
  assert.match(k.syslog(), /DMA: preallocated 128 KiB GFP_KERNEL pool for atomic allocations/);
  const first = sgOf(k, alloc(k, heap, MiB));
  assert.deepEqual(first, [{ dma_address: 0x68100000, length: MiB }]);
  const small = sgOf(k, alloc(k, heap, 4 * KiB));
  assert.deepEqual(small, [{ dma_address: 0x68060000, length: 4 * KiB }]);
  const mid = sgOf(k, alloc(k, heap, 64 * KiB));
  assert.deepEqual(mid, [{ dma_address: 0x68070000, length: 64 * KiB }]);
  const big = sgOf(k, alloc(k, heap, 3 * MiB + 4096));
  assert.equal(big.length, 1);
  assert.equal(big[0].length, 3 * MiB + 4096);
  assert.equal(big[0].dma_address % MiB, 0);
  assert.equal(big[0].dma_address, 0x68200000);
});

Deno.test("CMA heap without boot pools starts at the base; freed ranges are reused", () => {
  const m = new SimMachine({ atomicPools: false });
  const k = m.process();
  const heap = k.open(CMA, O_RDWR);
  const a = alloc(k, heap, MiB);
  assert.equal(sgOf(k, a)[0].dma_address, 0x68000000);
  k.close(a);
  assert.equal(sgOf(k, alloc(k, heap, 2 * MiB))[0].dma_address, 0x68000000);
});

Deno.test("ENOMEM beyond memory, and memory comes back", () => {
  const m = new SimMachine();
  const k = m.process();
  const sys = k.open("/dev/dma_heap/system", O_RDWR);
  const cma = k.open(CMA, O_RDWR);
  const free = m.freePages;
  assertErrno(() => alloc(k, sys, 2 * 1024 * MiB), "ENOMEM", "ioctl(DMA_HEAP_IOCTL_ALLOC)");
  assertErrno(() => alloc(k, cma, 129 * MiB), "ENOMEM");
  assertErrno(() => alloc(k, cma, 128 * MiB), "ENOMEM"); // the boot pools hold 384 KiB
  assert.equal(m.freePages, free);
  // All of free RAM in one buffer works, one more page does not.
  const all = alloc(k, sys, free * 4096);
  assert.equal(m.freePages, 0);
  assertErrno(() => alloc(k, sys, 4096), "ENOMEM");
  k.close(all);
  assert.equal(m.freePages, free);
  assert.deepEqual(k.readDir("/proc/self/fd"), ["0", "1", "2", "3", "4", "5"]);
});

for (const [heapName, path] of [["system", "/dev/dma_heap/system"], ["CMA", CMA]]) {
  for (const size of [4 * KiB, MiB]) {
    Deno.test(`${heapName} heap zeroes buffers that reuse freed pages (32 x ${size / KiB} KiB)`, () => {
      const k = new SimMachine().process();
      const heap = k.open(path, O_RDWR);
      const sync = k.userBuffer(8);
      const fds: number[] = [];
      const phys = new Set<number>();
      for (let i = 0; i < 32; i++) {
        const fd = alloc(k, heap, size);
        const r = k.mmap(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
        sync.view.setBigUint64(0, 3n, true);
        k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync);
        new Uint8Array(r.buffer, r.byteOffset, r.length).fill(0xff);
        sync.view.setBigUint64(0, 7n, true);
        k.ioctl(fd, DMA_BUF_IOCTL_SYNC, sync);
        k.munmap(r);
        for (const e of sgOf(k, fd)) phys.add(e.dma_address);
        fds.push(fd);
      }
      for (const fd of fds) k.close(fd);
      let reused = 0;
      for (let i = 0; i < 32; i++) {
        const fd = alloc(k, heap, size);
        for (const e of sgOf(k, fd)) if (phys.has(e.dma_address)) reused++;
        const r = k.mmap(fd, size, PROT_READ, MAP_SHARED, 0);
        const view = new Uint8Array(r.buffer, r.byteOffset, r.length);
        assert.equal(view.length, size);
        assert.ok(view.every((b) => b === 0), "buffer is zeroed");
        k.munmap(r);
      }
      assert.ok(reused > 0, "the new buffers reuse freed physical pages");
    });
  }
}

Deno.test("mmap, vmap and physical memory are the same bytes, both ways", () => {
  // Coherent hardware on purpose: a device sees the CPU's stores (and the CPU the device's) with
  // no DMA_BUF_IOCTL_SYNC only when the caches snoop DMA. On the default non-coherent board the
  // same accesses go through the write-back cache: tests/sim/coherency_test.ts.
  const m = new SimMachine({ coherency: "coherent" });
  const k = m.process();
  for (const path of ["/dev/dma_heap/system", CMA]) {
    const fd = alloc(k, k.open(path, O_RDWR), MiB + 64 * KiB);
    const r = k.mmap(fd, MiB + 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    const user = () => new Uint8Array(r.buffer, r.byteOffset, r.length);
    const d = dma_buf_get(k, fd);
    const map = dma_buf_vmap(d);
    const sg = sgOf(k, fd);
    // user → kernel and device
    user().set([1, 2, 3], MiB + 5);
    assert.deepEqual([...map.bytes.subarray(MiB + 5, MiB + 8)], [1, 2, 3]);
    assert.deepEqual([...m.phys_read(physOf(sg, MiB + 5), 3)], [1, 2, 3]);
    // device → user and kernel
    m.phys_write(sg[0].dma_address + 100, new Uint8Array([9, 8]));
    assert.deepEqual([...user().subarray(100, 102)], [9, 8]);
    assert.deepEqual([...map.bytes.subarray(100, 102)], [9, 8]);
    // kernel → user
    map.bytes[7] = 77;
    assert.equal(user()[7], 77);
    // a second mapping at an offset shows the same bytes
    const r2 = k.mmap(fd, 64 * KiB, PROT_READ, MAP_SHARED, MiB);
    assert.deepEqual([...new Uint8Array(r2.buffer, r2.byteOffset, 8).subarray(5, 8)], [1, 2, 3]);
    dma_buf_vunmap(d, map);
    dma_buf_put(d);
    k.munmap(r);
    k.munmap(r2);
  }
  assert.equal(m.warnings.length, 0);
});

Deno.test("munmap empties every view over the region; siblings re-read region.buffer", () => {
  const k = new SimMachine().process();
  const fd = alloc(k, k.open("/dev/dma_heap/system", O_RDWR), 8192);
  const a = k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  const b = k.mmap(fd, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  const va = new Uint8Array(a.buffer, a.byteOffset, a.length);
  const vb = new Uint8Array(b.buffer, b.byteOffset, b.length);
  va[0] = 42;
  assert.equal(vb[0], 42);
  k.munmap(a);
  assert.equal(va.length, 0);
  assert.equal(va[0], undefined);
  // The known difference: the sibling's old view is empty too, its region is not.
  assert.equal(vb.length, 0);
  const vb2 = new Uint8Array(b.buffer, b.byteOffset, b.length);
  assert.equal(vb2[0], 42);
  k.munmap(b);
  assert.equal(vb2.length, 0);
  k.munmap(b); // unmapping nothing succeeds, as munmap(2) does
});

Deno.test("munmap of a 256 MiB mapping detaches its views and keeps the bytes for others", () => {
  const m = new SimMachine({ memorySize: 1024 * MiB });
  const k = m.process();
  const fd = alloc(k, k.open("/dev/dma_heap/system", O_RDWR), 256 * MiB);
  const r = k.mmap(fd, 256 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  new Uint8Array(r.buffer, r.byteOffset, r.length)[256 * MiB - 1] = 5;
  const r2 = k.mmap(fd, 4096, PROT_READ, MAP_SHARED, 256 * MiB - 4096);
  const view = new Uint8Array(r.buffer, r.byteOffset, r.length);
  k.munmap(r);
  assert.equal(view.length, 0, "views of the unmapped region are detached");
  // That the move copies nothing is measured in bench/sim_munmap_bench.ts, not asserted here.
  assert.equal(new Uint8Array(r2.buffer, r2.byteOffset, 4096)[4095], 5);
});

Deno.test("mmap reuses the address space that munmap gave back", () => {
  const m = new SimMachine({ memorySize: 1024 * MiB });
  const k = m.process();
  const fd = alloc(k, k.open("/dev/dma_heap/system", O_RDWR), 256 * MiB);
  // The layout is top-down (arm64's default): each mapping goes below the lowest one. Every
  // round of the loop gets the address the previous round gave back (a bump allocator that never
  // reused would move down by 256 MiB + a guard page each time).
  const first = k.mmap(fd, 256 * MiB, PROT_READ, MAP_SHARED, 0);
  const keep = k.mmap(fd, 4096, PROT_READ, MAP_SHARED, 0);
  assert.ok(keep.address < first.address, "top-down: the second mapping lies below the first");
  k.munmap(first);
  const addresses = new Set<number>();
  for (let i = 0; i < 10_000; i++) {
    const r = k.mmap(fd, 256 * MiB, PROT_READ, MAP_SHARED, 0);
    addresses.add(r.address);
    k.munmap(r);
  }
  assert.equal(addresses.size, 1, "LIFO: every round reuses the range the last one unmapped");
  const hole = k.mmap(fd, 256 * MiB, PROT_READ, MAP_SHARED, 0);
  assert.ok(hole.address < keep.address, "LIFO reuse below the live mapping");
  k.munmap(hole);
  k.munmap(keep);
});
