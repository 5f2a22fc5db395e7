/**
 * Conformance cases for what the kernel does around the dma-buf drivers: path lookup of
 * `open(2)` (fs/namei.c), memfd seals (mm/memfd.c) and the lines mm/cma.c logs.
 */
import assert from "node:assert/strict";
import { type ConformanceCase, errnoOf } from "./harness.ts";
import { openHeap, openUdmabuf } from "../../mod.ts";
import type { Kernel } from "../../src/kernel/types.ts";
import {
  F_ADD_SEALS,
  F_GET_SEALS,
  F_SEAL_EXEC,
  F_SEAL_SHRINK,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_EXEC,
  MFD_NOEXEC_SEAL,
  O_CLOEXEC,
  O_RDONLY,
} from "../../src/uapi/constants.ts";

/** "ok" (closing the fd) or the errno name of `open(path)`. */
function openErr(k: Kernel, path: string): string {
  return errnoOf(() => k.close(k.open(path, O_RDONLY | O_CLOEXEC)));
}

/** `/proc/meminfo` field in kB. */
function meminfo(k: Kernel, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(k.readText("/proc/meminfo"));
  assert.ok(m, `no ${field} in /proc/meminfo`);
  return Number(m[1]);
}

export const kernelCases: ConformanceCase[] = [
  {
    name: "open() resolves //, /./ and /../; a trailing / on a file is ENOTDIR",
    run(k, obs) {
      const paths = [
        "/dev/dma_heap/system",
        "/dev/dma_heap//system",
        "//dev///dma_heap/system",
        "/dev/dma_heap/./system",
        "/dev/./dma_heap/../dma_heap/system",
        "/../dev/dma_heap/system",
        "/dev/dma_heap/system/",
        "/dev/dma_heap/system/.",
        "/dev/dma_heap/system/..",
        "/dev/dma_heap/system/x",
        "/dev/dma_heap/nothing",
        "/dev/dma_heap/nothing/",
        "/dev/null/../dma_heap/system",
        "",
        "/dev/dma_heap/system\0/x",
      ];
      for (const p of paths) obs[JSON.stringify(p)] = openErr(k, p);
      assert.deepEqual(paths.map((p) => obs[JSON.stringify(p)]), [
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "ENOTDIR",
        "ENOTDIR",
        "ENOTDIR",
        "ENOTDIR",
        "ENOENT",
        "ENOENT",
        "ENOTDIR",
        "ENOENT",
        "EINVAL",
      ]);
    },
  },
  {
    name: "open() gives ENAMETOOLONG for a component over 255 bytes or a path of 4096 bytes",
    run(k, obs) {
      const heap = "/dev/dma_heap/system";
      // Slashes + "dev/dma_heap/system": any length, same file.
      const padded = (len: number) => "/".repeat(len - heap.length + 1) + heap.slice(1);
      assert.equal(padded(4095).length, 4095);
      obs.path4095 = openErr(k, padded(4095));
      obs.path4096 = openErr(k, padded(4096));
      obs.path4097 = openErr(k, padded(4097));
      obs.name255 = openErr(k, "/dev/dma_heap/" + "a".repeat(255));
      obs.name256 = openErr(k, "/dev/dma_heap/" + "a".repeat(256));
      obs.dirName256 = openErr(k, "/dev/" + "a".repeat(256) + "/system");
      obs.missingThen256 = openErr(k, "/no-such-dir/" + "a".repeat(256));
      obs.proc256 = openErr(k, "/proc/" + "a".repeat(256));
      assert.deepEqual(
        [obs.path4095, obs.path4096, obs.path4097, obs.name255, obs.name256, obs.dirName256],
        ["ok", "ENAMETOOLONG", "ENAMETOOLONG", "ENOENT", "ENAMETOOLONG", "ENAMETOOLONG"],
      );
    },
  },
  {
    name: "memfd_create(MFD_NOEXEC_SEAL) is sealable with F_SEAL_EXEC only",
    run(k, obs) {
      const fds: number[] = [];
      const make = (flags: number) => {
        const fd = k.memfdCreate("seals", flags | MFD_CLOEXEC);
        fds.push(fd);
        return fd;
      };
      try {
        const nx = make(MFD_NOEXEC_SEAL);
        obs.noexec = k.fcntl(nx, F_GET_SEALS, 0);
        obs.addShrink = errnoOf(() => k.fcntl(nx, F_ADD_SEALS, F_SEAL_SHRINK));
        obs.afterShrink = k.fcntl(nx, F_GET_SEALS, 0);
        obs.noexecSealing = k.fcntl(make(MFD_NOEXEC_SEAL | MFD_ALLOW_SEALING), F_GET_SEALS, 0);
        obs.exec = k.fcntl(make(MFD_EXEC), F_GET_SEALS, 0);
        obs.plain = k.fcntl(make(0), F_GET_SEALS, 0);
        obs.plainShrink = errnoOf(() => k.fcntl(fds[fds.length - 1], F_ADD_SEALS, F_SEAL_SHRINK));
        const x = make(MFD_ALLOW_SEALING);
        k.fcntl(x, F_ADD_SEALS, F_SEAL_EXEC);
        obs.execSealOnExecutable = k.fcntl(x, F_GET_SEALS, 0);
        obs.bothExecFlags = errnoOf(() => make(MFD_EXEC | MFD_NOEXEC_SEAL));
        assert.deepEqual([obs.noexec, obs.addShrink, obs.afterShrink], [32, "ok", 34]);
      } finally {
        for (const fd of fds) k.close(fd);
      }
    },
  },
  {
    name: "a udmabuf from an MFD_NOEXEC_SEAL memfd sealed against shrinking works",
    needs: "udmabuf",
    run(k, obs) {
      const fd = k.memfdCreate("noexec", MFD_NOEXEC_SEAL | MFD_CLOEXEC);
      try {
        k.ftruncate(fd, 8192);
        obs.unsealed = errnoOf(() => {
          using dev = openUdmabuf({ kernel: k });
          dev.create({ memfd: fd, offset: 0, size: 8192 }).close();
        });
        k.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
        using dev = openUdmabuf({ kernel: k });
        using buf = dev.create({ memfd: fd, offset: 0, size: 8192 });
        obs.size = buf.size;
        assert.deepEqual([obs.unsealed, obs.size], ["EINVAL", 8192]);
      } finally {
        k.close(fd);
      }
    },
  },
  {
    name: "a failed CMA allocation logs __cma_alloc's line and the free areas",
    needs: "contiguous",
    run(k, obs) {
      using heap = openHeap({ role: "contiguous" }, { kernel: k });
      const total = meminfo(k, "CmaTotal") * 1024;
      using _one = heap.allocate(4096);
      const before = k.syslog().split("\n").length;
      obs.whole = errnoOf(() => heap.allocate(total));
      const lines = k.syslog().split("\n").slice(before - 1).map((l) =>
        l.replace(/^\[\s*\d+\.\d+\] /, "")
      ).filter((l) => l.startsWith("cma:"));
      const failed = /^cma: __cma_alloc: (.+): alloc failed, req-size: (\d+) pages, ret: (-\d+)$/
        .exec(lines[0] ?? "");
      assert.ok(failed, `no alloc-failed line in ${JSON.stringify(lines)}`);
      obs.failed = {
        nameIsHeap: failed[1] === heap.name,
        pagesAsked: Number(failed[2]) === total / 4096,
        ret: Number(failed[3]),
      };
      const areas =
        /^cma: number of available pages: ((?:\+?\d+@\d+)*)=> (\d+) free of (\d+) total pages$/
          .exec(lines[1] ?? "");
      assert.ok(areas, `no available-pages line in ${JSON.stringify(lines)}`);
      const parts = areas[1].split("+").filter(Boolean).map((p) => Number(p.split("@")[0]));
      obs.areas = {
        sumIsFree: parts.reduce((a, b) => a + b, 0) === Number(areas[2]),
        totalIsArea: Number(areas[3]) === total / 4096,
        oneFewer: Number(areas[2]) < total / 4096,
      };
      obs.lines = lines.length;
      assert.deepEqual(obs.failed, { nameIsHeap: true, pagesAsked: true, ret: -12 });
    },
  },
];
