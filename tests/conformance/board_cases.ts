/**
 * Conformance cases for the seed's board: the arm64 `virt` machine whose device tree reserves
 * `global_cma@68000000` (128 MiB at 0x68000000, `linux,cma-default`), with the seed's importer
 * `driverA` loaded. They run where that heap and `/dev/driverA` exist — the simulated default
 * board and the arm64 guest (tools/kernel/test.sh arm64) — and hold the simulated board's most
 * specific claims against the real kernel: the heap's name, what the kernel log says about the
 * CMA area and the atomic DMA pools taken from it, where the first buffers land, what the seed's
 * driver prints, and the buffer's fdinfo.
 */
import assert from "node:assert/strict";
import type { ConformanceCase } from "./harness.ts";
import { listHeaps, openHeap } from "../../mod.ts";
import type { Kernel } from "../../src/kernel/types.ts";
import { O_CLOEXEC, O_RDWR } from "../../src/uapi/constants.ts";
import { buf_info, TEST_DRIVERA } from "../../src/uapi/test_driver.ts";

/** The seed board's CMA heap (drivers/dma-buf/heaps/cma_heap.c names it after the area). */
export const SEED_CMA_HEAP = "global_cma@68000000";

/** The kernel log's lines without their `[    0.000000] ` time stamps. */
function logLines(k: Kernel): string[] {
  return k.syslog().split("\n").map((l) => l.replace(/^\[\s*\d+\.\d+\] /, ""));
}

/**
 * Hands `buf` to the seed's driver A (`TEST_DRIVERA`) and returns the lines it printed for this
 * call: `fd[..], buf[..], size[..]`, one `<test_dma_access: N>addr = .., len = ..` per sg entry,
 * `<test_cpu_access: N>addr = .., str = ..`.
 */
function driverA(k: Kernel, fd: number, address: number, size: number): string[] {
  const info = k.userBuffer(buf_info.size);
  info.view.setInt32(buf_info.fd, fd, true);
  info.view.setBigUint64(buf_info.buf, BigInt(address), true);
  info.view.setUint32(buf_info.size_, size, true);
  const dev = k.open("/dev/driverA", O_RDWR | O_CLOEXEC);
  try {
    k.ioctl(dev, TEST_DRIVERA, info, "TEST_DRIVERA");
  } finally {
    k.close(dev);
  }
  const head = `fd[${fd}], buf[0x${address.toString(16).padStart(16, "0")}], size[0x${
    size.toString(16)
  }]`;
  const lines = logLines(k);
  const start = lines.lastIndexOf(head);
  assert.ok(start >= 0, `driverA did not log "${head}"`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith("<test_cpu_access"));
  assert.ok(end > start, "driverA logged no CPU access line");
  return lines.slice(start, end + 1);
}

/** What the driver printed, with what varies from run to run named rather than shown. */
function driverLines(lines: string[], fd: number, address: number) {
  const dma = lines.filter((l) => l.startsWith("<test_dma_access")).map((l) =>
    l.replace(/^<test_dma_access: \d+>/, "")
  );
  const cpu = lines[lines.length - 1].match(
    /^<test_cpu_access: \d+>addr = 0x([0-9a-f]{16}), str = (.*)$/,
  );
  assert.ok(cpu, `unexpected CPU access line: ${lines[lines.length - 1]}`);
  return {
    head: lines[0].replace(`fd[${fd}]`, "fd[<fd>]").replace(
      `buf[0x${address.toString(16).padStart(16, "0")}]`,
      "buf[<the mapping>]",
    ),
    dma,
    // The vmap address: where the kernel's vmalloc area is (16 hex digits, last 7 hidden).
    vmap: `0x${cpu[1].slice(0, 9)}…`,
    str: cpu[2],
  };
}

/** Allocates `size` bytes from the seed's CMA heap, maps it, writes the seed's string, calls driver A. */
function firstBuffer(k: Kernel, size: number) {
  using heap = openHeap(SEED_CMA_HEAP, { kernel: k });
  using buf = heap.allocate(size);
  using map = buf.map();
  map.write((b) => b.set(new TextEncoder().encode("driverA: userspace!\0")));
  const lines = driverLines(driverA(k, buf.fd, map.address, buf.size), buf.fd, map.address);
  const fdinfo = k.readText(`/proc/self/fdinfo/${buf.fd}`).replace(/^(mnt_id|ino):.*\n/gm, "");
  return { lines, fdinfo };
}

export const boardCases: ConformanceCase[] = [
  {
    name: "The seed board has the heaps global_cma@68000000 (contiguous) and system",
    needs: "seedBoard",
    run(k, obs) {
      obs.heaps = listHeaps({ kernel: k }).map((h) => `${h.name}: ${h.role}`).sort();
      assert.deepEqual(obs.heaps, [`${SEED_CMA_HEAP}: contiguous`, "system: system"]);
    },
  },
  {
    name: "The seed board's kernel log reserves global_cma and takes the atomic DMA pools from it",
    needs: "seedBoard",
    run(k, obs) {
      const lines = logLines(k);
      obs.reserved = lines.filter((l) => l.startsWith("Reserved memory: created CMA memory pool"));
      obs.atomicPools = lines.filter((l) =>
        /^DMA: preallocated \d+ KiB .* pool for atomic/.test(l)
      );
      assert.deepEqual(obs.reserved, [
        "Reserved memory: created CMA memory pool at 0x0000000068000000, size 128 MiB",
      ]);
    },
  },
  {
    name: "The seed board's first 1 MiB CMA buffer: driver A's sg entry, vmap and fdinfo",
    needs: "seedBoard",
    run(k, obs) {
      const { lines, fdinfo } = firstBuffer(k, 1 << 20);
      Object.assign(obs, lines);
      obs.fdinfo = fdinfo;
      assert.equal(lines.head, "fd[<fd>], buf[<the mapping>], size[0x100000]");
      assert.equal(lines.str, "driverA: userspace!");
      assert.match(fdinfo, /\nexp_name:\tglobal_cma@68000000\n/);
    },
  },
  {
    name: "The seed board's first 4 KiB CMA buffer: where it lands after the atomic pools",
    needs: "seedBoard",
    run(k, obs) {
      const { lines } = firstBuffer(k, 4096);
      obs.dma = lines.dma;
      assert.equal(lines.dma.length, 1);
    },
  },
];
