/** Conformance cases for mappings: mmap rules, aliasing, revocation, the heap selftests. */
import assert from "node:assert/strict";
import { type ConformanceCase, errnoOf } from "./harness.ts";
import { openHeap } from "../../mod.ts";
import {
  MAP_PRIVATE,
  MAP_SHARED,
  O_RDONLY,
  PROT_READ,
  PROT_WRITE,
} from "../../src/uapi/constants.ts";

const RW = PROT_READ | PROT_WRITE;

function zeroedAfterReuse(size: number): ConformanceCase {
  return {
    name: `DmaHeap.allocate() returns zeroed memory after reuse (32 × ${size / 1024} KiB)`,
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      const dirty = Array.from({ length: 32 }, () => heap.allocate(size));
      for (const buf of dirty) {
        using map = buf.map();
        map.write((b) => b.fill(0xff));
      }
      for (const buf of dirty) buf.close();
      let nonZero = 0;
      const fresh = Array.from({ length: 32 }, () => heap.allocate(size));
      for (const buf of fresh) {
        using map = buf.map();
        map.read((b) => {
          for (let i = 0; i < b.length; i++) if (b[i] !== 0) nonZero++;
        });
        buf.close();
      }
      obs.nonZero = nonZero;
      assert.equal(nonZero, 0);
    },
  };
}

export const mappingCases: ConformanceCase[] = [
  zeroedAfterReuse(4096),
  zeroedAfterReuse(1 << 20),
  {
    name: "DmaBuf.map() views alias: a write through one mapping shows in another",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(3 * 4096);
      using whole = buf.map();
      using tail = buf.map({ offset: 4096, length: 8192 });
      whole.write((b) => b.set([1, 2, 3], 4096));
      obs.seen = tail.read((b) => [...b.subarray(0, 3)]);
      assert.deepEqual(obs.seen, [1, 2, 3]);
      tail.write((b) => (b[8191] = 9));
      obs.back = whole.read((b) => b[12287]);
      assert.equal(obs.back, 9);
      assert.equal(whole.length, 12288);
      assert.equal(tail.offset, 4096);
    },
  },
  {
    name: "DmaBuf.map() raises fdinfo count while mapped",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      const map = buf.map();
      obs.mapped = buf.info().count;
      map.unmap();
      obs.unmapped = buf.info().count;
      assert.deepEqual([obs.mapped, obs.unmapped], [2, 1]);
    },
  },
  {
    name: "DmaBufMapping.unmap() detaches every view it handed out",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      const map = buf.map();
      const view = map.bytes;
      const kept = map.write((b) => b);
      view[0] = 7;
      map.unmap();
      map.unmap();
      obs.lengths = [view.length, kept.length];
      assert.deepEqual(obs.lengths, [0, 0]);
      assert.equal(view[0], undefined);
      assert.throws(() => map.bytes, Deno.errors.BadResource);
      assert.throws(() => map.write(() => 0), Deno.errors.BadResource);
    },
  },
  {
    name: "DmaBufMapping.write() sends END even when the callback throws or rejects",
    async run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      using map = buf.map();
      assert.throws(() =>
        map.write(() => {
          throw new Error("boom");
        }), /boom/);
      await assert.rejects(
        map.write(async () => {
          await Promise.resolve();
          throw new Error("later");
        }),
        /later/,
      );
      const value = await map.readWrite(async (b) => {
        await Promise.resolve();
        b[0] = 5;
        return b[0];
      });
      obs.value = value;
      assert.equal(value, 5);
    },
  },
  {
    name: "mmap of a dma-buf follows the kernel's range and mode rules",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(2 * 4096);
      const fd = buf.fd;
      const tryMap = (len: number, prot: number, flags: number, off: number, f = fd) =>
        errnoOf(() => k.munmap(k.mmap(f, len, prot, flags, off)));
      obs.whole = tryMap(8192, RW, MAP_SHARED, 0);
      obs.pastEnd = tryMap(8192, RW, MAP_SHARED, 4096);
      obs.tooLong = tryMap(3 * 4096, RW, MAP_SHARED, 0);
      obs.partialPage = tryMap(100, RW, MAP_SHARED, 4096);
      obs.len0 = tryMap(0, RW, MAP_SHARED, 0);
      obs.unaligned = tryMap(4096, RW, MAP_SHARED, 100);
      obs.private2 = tryMap(8192, RW, MAP_PRIVATE, 0);
      obs.private1 = tryMap(4096, RW, MAP_PRIVATE, 0);
      // do_mmap checks the file mode before it looks for an mmap op.
      obs.heapFdWrite = tryMap(4096, RW, MAP_SHARED, 0, heap.fd);
      obs.heapFd = tryMap(4096, PROT_READ, MAP_SHARED, 0, heap.fd);
      assert.deepEqual(obs, {
        whole: "ok",
        pastEnd: "EINVAL",
        tooLong: "EINVAL",
        partialPage: "ok",
        len0: "EINVAL",
        unaligned: "EINVAL",
        private2: "EINVAL",
        private1: "ok",
        heapFdWrite: "EACCES",
        heapFd: "ENODEV",
      });
    },
  },
  {
    name: "a read-only dma-buf maps for reading and refuses a writable shared mapping",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096, { fdFlags: O_RDONLY });
      obs.writable = errnoOf(() => buf.map({ access: "readwrite" }));
      assert.equal(obs.writable, "EACCES");
      using map = buf.map({ access: "read" });
      obs.first = map.read((b) => b[0]);
      assert.equal(obs.first, 0);
    },
  },
  {
    name: "DmaBuf.map() rejects bad ranges with EINVAL",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      obs.unaligned = errnoOf(() => buf.map({ offset: 10 }));
      obs.negative = errnoOf(() => buf.map({ offset: -4096 }));
      obs.zero = errnoOf(() => buf.map({ length: 0 }));
      obs.past = errnoOf(() => buf.map({ offset: 4096, length: 4096 }));
      assert.deepEqual(obs, {
        unaligned: "EINVAL",
        negative: "EINVAL",
        zero: "EINVAL",
        past: "EINVAL",
      });
    },
  },
];
