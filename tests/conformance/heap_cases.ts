/** Conformance cases for heaps: listing, opening, the allocation ioctl and its errors. */
import assert from "node:assert/strict";
import { type ConformanceCase, errnoOf } from "./harness.ts";
import { DmaBuf, listHeaps, openHeap } from "../../mod.ts";
import { _IO, _IOWR } from "../../src/uapi/ioctl.ts";
import { dma_heap_allocation_data as D, DMA_HEAP_IOCTL_ALLOC } from "../../src/uapi/dma_heap.ts";
import { O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR } from "../../src/uapi/constants.ts";
import type { Kernel } from "../../src/kernel/types.ts";

function rawAlloc(k: Kernel, heapFd: number, cmd: number, structSize: number, len: number) {
  const arg = k.userBuffer(structSize);
  arg.view.setUint32(0, len, true);
  arg.view.setUint32(12, O_RDWR | O_CLOEXEC, true);
  return { arg, run: () => k.ioctl(heapFd, cmd, arg, "DMA_HEAP_IOCTL_ALLOC") };
}

export const heapCases: ConformanceCase[] = [
  {
    name: "listHeaps() lists the system heap as accessible with its role",
    run(k, obs) {
      const heaps = listHeaps({ kernel: k });
      const system = heaps.find((h) => h.name === "system");
      assert.ok(system, "no system heap");
      assert.equal(system.path, "/dev/dma_heap/system");
      assert.equal(system.role, "system");
      assert.equal(system.accessible, true);
      obs.system = system;
    },
  },
  {
    name: "openHeap() rejects names with '/', '..' or NUL before any I/O",
    run(k, obs) {
      for (const bad of ["../system", "a/b", "sys\0tem", "", ".", ".."]) {
        obs[JSON.stringify(bad)] = errnoOf(() => openHeap(bad, { kernel: k }));
        assert.equal(obs[JSON.stringify(bad)], "EINVAL", bad);
      }
    },
  },
  {
    name: "openHeap() of a missing heap is NotFound and lists the heaps present",
    run(k, obs) {
      try {
        openHeap("no-such-heap", { kernel: k });
        assert.fail("opened a missing heap");
      } catch (e) {
        assert.ok(e instanceof Deno.errors.NotFound);
        assert.match((e as Error).message, /heaps present: .*system/);
        obs.code = (e as unknown as { code: string }).code;
      }
    },
  },
  {
    name: "openHeap() by role finds the contiguous heap",
    needs: "contiguous",
    run(k, obs) {
      using heap = openHeap({ role: "contiguous" }, { kernel: k });
      assert.equal(heap.role, "contiguous");
      using buf = heap.allocate(1 << 20);
      obs.size = buf.info().size;
      assert.equal(obs.size, 1 << 20);
    },
  },
  {
    name: "DmaHeap.allocate() rounds the size up to a page",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      for (const size of [1, 4095, 4096, 4097, 65536 + 1, 1 << 20]) {
        using buf = heap.allocate(size);
        const info = buf.info();
        assert.equal(info.size, Math.ceil(size / 4096) * 4096);
        assert.equal(buf.size, info.size);
        obs[size] = info.size;
      }
    },
  },
  {
    name: "DmaHeap.allocate() gives fdinfo with the kernel's fields and flags",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(1 << 20);
      const text = k.readText(`/proc/self/fdinfo/${buf.fd}`);
      const keys = text.trimEnd().split("\n").map((l) => l.split(":")[0]);
      assert.deepEqual(keys, ["pos", "flags", "mnt_id", "ino", "size", "count", "exp_name"]);
      assert.match(text, /^pos:\t0\nflags:\t02000002\nmnt_id:\t\d+\nino:\t\d+\n/);
      assert.match(text, /\nsize:\t1048576\ncount:\t1\nexp_name:\tsystem\n$/);
      const info = buf.info();
      obs.info = { ...info, inode: undefined, mntId: undefined };
      using ro = heap.allocate(4096, { fdFlags: O_RDONLY });
      assert.equal(ro.info().flags, 0);
      obs.roFlags = ro.info().flags;
    },
  },
  {
    name: "DmaHeap.allocate() rejects bad sizes and flags with EINVAL",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      const cases: Record<string, () => unknown> = {
        size0: () => heap.allocate(0),
        sizeNeg: () => heap.allocate(-1),
        sizeFrac: () => heap.allocate(1.5),
        sizeNaN: () => heap.allocate(NaN),
        nonblock: () => heap.allocate(4096, { fdFlags: O_RDWR | O_NONBLOCK }),
        notRwCloexec: () => heap.allocate(4096, { fdFlags: ~(O_RDWR | O_CLOEXEC) >>> 0 }),
        heapFlags: () => heap.allocate(4096, { heapFlags: 0x111111 }),
        // The buffer is allocated, naming fails, and it is closed again: the harness's fd-leak
        // check proves nothing is left behind.
        longName: () => heap.allocate(4096, { name: "n".repeat(32) }),
      };
      for (const [key, fn] of Object.entries(cases)) {
        obs[key] = errnoOf(fn);
        assert.equal(obs[key], "EINVAL", key);
      }
    },
  },
  {
    name: "DMA_HEAP_IOCTL_ALLOC follows dma_heap_ioctl's rules for the raw struct",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      const fd = heap.fd;
      // fd field must be 0 on input.
      const reused = rawAlloc(k, fd, DMA_HEAP_IOCTL_ALLOC, 24, 4096);
      reused.arg.view.setUint32(D.fd, 7, true);
      obs.fdNotZero = errnoOf(reused.run);
      assert.equal(obs.fdNotZero, "EINVAL");
      // Only _IOC_NR picks the command: nr 1 is EINVAL, never ENOTTY.
      obs.nr1 = errnoOf(rawAlloc(k, fd, _IOWR("H", 1, 24), 24, 4096).run);
      assert.equal(obs.nr1, "EINVAL");
      obs.otherTypeNr0 = errnoOf(() => k.ioctl(fd, _IO("x", 0), null));
      assert.equal(obs.otherTypeNr0, "EINVAL");
      // The selftest's older 16-byte and newer 48-byte structs both allocate.
      for (const size of [16, 48]) {
        const { arg, run } = rawAlloc(k, fd, _IOWR("H", 0, size), size, 4096);
        if (size === 48) {
          arg.view.setUint32(24, 0xffffffff, true);
          arg.view.setUint32(32, 0x88888888, true);
          arg.view.setUint32(40, 0x11111111, true);
        }
        assert.equal(run(), 0);
        const bufFd = arg.view.getInt32(D.fd, true);
        using buf = DmaBuf.from(bufFd, { kernel: k });
        obs[`compat${size}`] = buf.info().size;
        assert.equal(buf.info().size, 4096);
        if (size === 48) assert.equal(arg.view.getUint32(32, true), 0x88888888);
      }
      // Page-aligned length 0.
      obs.len0 = errnoOf(rawAlloc(k, fd, DMA_HEAP_IOCTL_ALLOC, 24, 0).run);
      assert.equal(obs.len0, "EINVAL");
    },
  },
  {
    name: "DMA_HEAP_IOCTL_ALLOC on an fd that is not a heap fails",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      // A dma-buf fd matches no dma-buf ioctl: ENOTTY.
      obs.onDmaBuf = errnoOf(rawAlloc(k, buf.fd, DMA_HEAP_IOCTL_ALLOC, 24, 4096).run);
      assert.equal(obs.onDmaBuf, "ENOTTY");
    },
  },
  {
    name: "DmaHeap.allocate() fails with ENOMEM beyond what the contiguous heap holds",
    needs: "contiguous",
    run(k, obs) {
      using heap = openHeap({ role: "contiguous" }, { kernel: k });
      obs.huge = errnoOf(() => heap.allocate(2 ** 30));
      assert.equal(obs.huge, "ENOMEM");
    },
  },
  {
    name: "DmaHeap methods after close() throw BadResource and close() is idempotent",
    run(k, obs) {
      const heap = openHeap("system", { kernel: k });
      heap.close();
      heap.close();
      assert.throws(() => heap.allocate(4096), Deno.errors.BadResource);
      assert.throws(() => heap.fd, Deno.errors.BadResource);
      obs.closed = heap.closed;
    },
  },
];
