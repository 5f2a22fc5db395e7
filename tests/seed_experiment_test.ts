/**
 * The seed's experiment as one test, written against the public API and the syscall boundary,
 * so the same assertions hold on the simulated kernel (here) and on a real kernel with
 * tools/kernel/module/test_driver.ko loaded (in the guests): both drivers see user space's
 * string and each other's, through one buffer whose sg table is one contiguous entry inside
 * the seed's CMA region (CMA heap) or page chunks that add up to the buffer (system heap).
 */
import assert from "node:assert/strict";
import { getKernel, type Kernel } from "../src/kernel/mod.ts";
import { listHeaps, openHeap } from "../mod.ts";
import {
  buf_info,
  DRIVER_A_STRING,
  DRIVER_B_STRING,
  O_CLOEXEC,
  O_RDWR,
  TEST_DRIVERA,
  TEST_DRIVERB,
} from "../src/uapi/mod.ts";

import { unusable } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function available(k: Kernel): string | undefined {
  const why = unusable(k, "/dev/driverA");
  if (why) return why;
  try {
    k.syslog();
  } catch (e) {
    return `kernel log unreadable (${(e as Error).message})`;
  }
}

interface Seen {
  strings: string[];
  sg: { addr: number; len: number }[][];
  vmapStrings: string[];
}

function runSeed(k: Kernel, heapRole: "contiguous" | "system"): Seen {
  using heap = openHeap(heapRole === "system" ? "system" : { role: "contiguous" }, { kernel: k });
  using buf = heap.allocate(1 << 20);
  using map = buf.map();
  map.write((b) => {
    const s = encoder.encode("driverA: userspace!");
    b.set(s);
    b[s.length] = 0;
  });
  const info = k.userBuffer(buf_info.size);
  info.view.setInt32(buf_info.fd, buf.fd, true);
  info.view.setUint32(buf_info.buf, map.address % 2 ** 32, true);
  info.view.setUint32(buf_info.buf + 4, Math.floor(map.address / 2 ** 32), true);
  info.view.setUint32(buf_info.size_, buf.size, true);
  const seen: Seen = { strings: [], sg: [], vmapStrings: [] };
  for (
    const [dev, req] of [["/dev/driverA", TEST_DRIVERA], ["/dev/driverB", TEST_DRIVERB]] as const
  ) {
    const lines = () => k.syslog().split("\n").filter((l) => l !== "");
    const before = lines().length;
    const fd = k.open(dev, O_RDWR | O_CLOEXEC);
    try {
      k.ioctl(fd, req, info);
    } finally {
      k.close(fd);
    }
    const log = lines().slice(before).join("\n");
    seen.sg.push(
      [...log.matchAll(/>addr = 0x([0-9a-f]+), len = 0x([0-9a-f]+)/g)].map((m) => ({
        addr: Number.parseInt(m[1], 16),
        len: Number.parseInt(m[2], 16),
      })),
    );
    seen.vmapStrings.push(/>addr = 0x[0-9a-f]+, str = (.*)$/m.exec(log)?.[1] ?? "");
    seen.strings.push(map.read((b) => decoder.decode(b.subarray(0, b.indexOf(0)))));
    assert.equal(buf.info().count, 2, "the drivers put their references back");
  }
  return seen;
}

const k = getKernel();
const why = available(k);
const hasCma = listHeaps({ kernel: k }).some((h) => h.role === "contiguous" && h.accessible);

Deno.test({
  name: `the seed experiment on the contiguous heap: one entry inside 0x68000000–0x70000000`,
  ignore: why !== undefined || !hasCma,
  fn() {
    const seen = runSeed(k, "contiguous");
    assert.deepEqual(seen.strings, [DRIVER_A_STRING, DRIVER_B_STRING]);
    assert.deepEqual(seen.vmapStrings, ["driverA: userspace!", DRIVER_A_STRING]);
    for (const sg of seen.sg) {
      assert.equal(sg.length, 1, "CMA memory is one contiguous sg entry");
      assert.equal(sg[0].len, 0x100000);
      assert.ok(sg[0].addr >= 0x68000000 && sg[0].addr + sg[0].len <= 0x70000000);
    }
    assert.deepEqual(seen.sg[0], seen.sg[1], "both drivers map the same physical pages");
  },
});

Deno.test({
  name: "the seed experiment on the system heap: page chunks that cover the buffer",
  ignore: why !== undefined,
  fn() {
    const seen = runSeed(k, "system");
    assert.deepEqual(seen.strings, [DRIVER_A_STRING, DRIVER_B_STRING]);
    assert.deepEqual(seen.vmapStrings, ["driverA: userspace!", DRIVER_A_STRING]);
    for (const sg of seen.sg) {
      assert.ok(sg.length >= 1);
      assert.equal(sg.reduce((n, e) => n + e.len, 0), 0x100000);
    }
    assert.deepEqual(seen.sg[0], seen.sg[1], "both drivers map the same physical pages");
  },
});

if (why) console.log(`seed experiment tests skipped: ${why}`);
