/** Conformance cases for udmabuf: the kernel's udmabuf selftest and the driver's rules. */
import assert from "node:assert/strict";
import { type ConformanceCase, errnoOf } from "./harness.ts";
import { openUdmabuf } from "../../mod.ts";
import type { Kernel } from "../../src/kernel/types.ts";
import {
  F_ADD_SEALS,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  PROT_READ,
  PROT_WRITE,
} from "../../src/uapi/constants.ts";
import { DMA_BUF_IOCTL_SYNC, DMA_BUF_SYNC_END, DMA_BUF_SYNC_RW } from "../../src/uapi/dma_buf.ts";

const PAGE = 4096;

function memfd(k: Kernel, pages: number, seals = F_SEAL_SHRINK): number {
  const fd = k.memfdCreate("udmabuf-test", MFD_ALLOW_SEALING | MFD_CLOEXEC);
  k.ftruncate(fd, pages * PAGE);
  if (seals) k.fcntl(fd, F_ADD_SEALS, seals);
  return fd;
}

function udmabufCase(name: string, run: ConformanceCase["run"]): ConformanceCase {
  return { name, needs: "udmabuf", run };
}

export const udmabufCases: ConformanceCase[] = [
  udmabufCase("UDMABUF_CREATE follows the udmabuf selftest (tests 1–4)", (k, obs) => {
    using dev = openUdmabuf({ kernel: k });
    const fd = memfd(k, 4);
    try {
      obs.halfOffset = errnoOf(() => dev.create({ memfd: fd, offset: PAGE / 2, size: PAGE }));
      obs.halfSize = errnoOf(() => dev.create({ memfd: fd, offset: 0, size: PAGE / 2 }));
      obs.stdin = errnoOf(() => dev.create({ memfd: 0, offset: 0, size: PAGE }));
      using buf = dev.create({ memfd: fd, offset: 0, size: 4 * PAGE });
      obs.size = buf.info().size;
      obs.exporter = buf.info().exporter;
    } finally {
      k.close(fd);
    }
    assert.deepEqual(obs, {
      halfOffset: "EINVAL",
      halfSize: "EINVAL",
      stdin: "EBADFD",
      size: 4 * PAGE,
      exporter: "udmabuf",
    });
  }),
  udmabufCase("UDMABUF_CREATE enforces seals, the memfd's size and the 64 MiB cap", (k, obs) => {
    using dev = openUdmabuf({ kernel: k });
    const unsealed = memfd(k, 4, 0);
    const writeSealed = memfd(k, 4, F_SEAL_SHRINK | F_SEAL_WRITE);
    const big = memfd(k, 16385);
    try {
      obs.noShrinkSeal = errnoOf(() => dev.create({ memfd: unsealed, offset: 0, size: PAGE }));
      obs.writeSeal = errnoOf(() => dev.create({ memfd: writeSealed, offset: 0, size: PAGE }));
      obs.pastEof = errnoOf(() => dev.create({ memfd: big, offset: 16385 * PAGE, size: PAGE }));
      obs.overCap = errnoOf(() => dev.create({ memfd: big, offset: 0, size: 16385 * PAGE }));
      obs.atCap = errnoOf(() => dev.create({ memfd: big, offset: 0, size: 16384 * PAGE }).close());
      obs.size0 = errnoOf(() => dev.create({ memfd: big, offset: 0, size: 0 }));
      obs.closedFd = errnoOf(() => dev.create({ memfd: 999_999, offset: 0, size: PAGE }));
    } finally {
      for (const fd of [unsealed, writeSealed, big]) k.close(fd);
    }
    assert.deepEqual(obs, {
      noShrinkSeal: "EINVAL",
      writeSeal: "EINVAL",
      pastEof: "EINVAL",
      overCap: "EINVAL",
      atCap: "ok",
      size0: "EINVAL",
      closedFd: "EBADFD",
    });
  }),
  udmabufCase(
    "UDMABUF_CREATE_LIST concatenates memfd chunks that stay shared (test 5)",
    (k, obs) => {
      using dev = openUdmabuf({ kernel: k });
      const fd = memfd(k, 1024);
      try {
        const chunks = [0, 100, 500, 1000].map((p) => ({
          memfd: fd,
          offset: p * PAGE,
          size: 4 * PAGE,
        }));
        using buf = dev.createList(chunks);
        obs.size = buf.size;
        const src = k.mmap(fd, 1024 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
        const srcBytes = new Uint8Array(src.buffer, src.byteOffset, src.length);
        for (let i = 0; i < srcBytes.length; i += 97) srcBytes[i] = (i / 97) & 0xff;
        using map = buf.map();
        obs.equal = map.read((b) =>
          chunks.every((c, i) => {
            const want = new Uint8Array(src.buffer, src.byteOffset + c.offset, c.size);
            const got = b.subarray(i * 4 * PAGE, (i + 1) * 4 * PAGE);
            return want.every((v, j) => v === got[j]);
          })
        );
        k.munmap(src);
        obs.tooMany = errnoOf(() =>
          dev.createList(Array.from({ length: 1025 }, () => ({ memfd: fd, offset: 0, size: PAGE })))
        );
        obs.empty = errnoOf(() => dev.createList([]));
      } finally {
        k.close(fd);
      }
      assert.deepEqual(obs, { size: 16 * PAGE, equal: true, tooMany: "EINVAL", empty: "EINVAL" });
    },
  ),
  udmabufCase("a udmabuf rejects END before START and MAP_PRIVATE", (k, obs) => {
    using dev = openUdmabuf({ kernel: k });
    using buf = dev.allocate(2 * PAGE);
    const arg = k.userBuffer(8);
    arg.view.setUint32(0, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW, true);
    obs.endFirst = errnoOf(() => k.ioctl(buf.fd, DMA_BUF_IOCTL_SYNC, arg));
    buf.beginCpuAccess("readwrite");
    obs.endAfterStart = errnoOf(() => buf.endCpuAccess("readwrite"));
    obs.private = errnoOf(() =>
      k.munmap(k.mmap(buf.fd, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0))
    );
    assert.deepEqual(obs, { endFirst: "EINVAL", endAfterStart: "ok", private: "EINVAL" });
  }),
  udmabufCase("Udmabuf.allocate() rounds up, names and zero-fills", (k, obs) => {
    using dev = openUdmabuf({ kernel: k });
    using buf = dev.allocate(10_000, { name: "sw-frame" });
    const info = buf.info();
    obs.info = { size: info.size, exporter: info.exporter, name: info.name, count: info.count };
    using map = buf.map();
    obs.zero = map.read((b) => b.every((v) => v === 0));
    obs.longName = errnoOf(() => dev.allocate(4096, { name: "n".repeat(32) }));
    assert.deepEqual(obs, {
      info: { size: 12288, exporter: "udmabuf", name: "sw-frame", count: 1 },
      zero: true,
      longName: "EINVAL",
    });
  }),
];
