/**
 * The simulated kernel's syscall layer with hostile arguments (what `tests/sim/fuzz_test.ts`
 * did before the public-API fuzzer replaced it): random `open`/`close`/`ioctl`/`mmap`/`munmap`/
 * `fcntl`/`lseek`/`poll`/`ftruncate`/`memfd_create`/procfs reads on a private machine with real
 * buffers, mappings and devices open. Every failure must be an `ErrnoError`, and the machine
 * must not warn. Runs on a private `SimMachine` on either kernel, so raw hostile pointers never
 * reach libc.
 *
 * @module
 */
import { ErrnoError } from "../../src/errors.ts";
import { SimMachine } from "../../src/sim/mod.ts";
import type { SimProcess } from "../../src/sim/mod.ts";
import type { MappedRegion } from "../../src/kernel/types.ts";
import { dma_heap_allocation_data as A, DMA_HEAP_IOCTL_ALLOC } from "../../src/uapi/dma_heap.ts";
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_B,
} from "../../src/uapi/dma_buf.ts";
import { UDMABUF_CREATE, UDMABUF_CREATE_LIST } from "../../src/uapi/udmabuf.ts";
import { TEST_DRIVERA } from "../../src/uapi/test_driver.ts";
import { MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE } from "../../src/uapi/constants.ts";
import { rng } from "./rng.ts";

let machine: { m: SimMachine; k: SimProcess; heap: number; bufs: number[]; first: MappedRegion };

function boot() {
  const m = new SimMachine({
    memorySize: 64 << 20,
    cma: [{ name: "c", base: 0x43800000, size: 8 << 20 }],
  });
  const k = m.process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  const alloc = (len: number) => {
    const ub = k.userBuffer(A.size);
    ub.view.setBigUint64(A.len, BigInt(len), true);
    ub.view.setUint32(A.fd_flags, O_RDWR | O_CLOEXEC, true);
    k.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, ub, "DMA_HEAP_IOCTL_ALLOC");
    return ub.view.getUint32(A.fd, true);
  };
  const bufs = [alloc(8192), alloc(4096)];
  const first = k.mmap(bufs[0], 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
  return { m, k, heap, bufs, first };
}

const INTS = [
  0,
  1,
  2,
  3,
  4,
  7,
  -1,
  4096,
  4097,
  8192,
  2 ** 31,
  2 ** 32 + 1,
  2 ** 53,
  -(2 ** 40),
  0.5,
  NaN,
  Infinity,
];
const CMDS = [
  DMA_HEAP_IOCTL_ALLOC,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  UDMABUF_CREATE,
  UDMABUF_CREATE_LIST,
  TEST_DRIVERA,
  0x5451,
  0x5421,
  0,
  0xffffffff,
  -0x3fe7b800,
];
const PATHS = [
  "/dev/dma_heap/system",
  "/dev/dma_heap/c",
  "/dev/udmabuf",
  "/dev/driverA",
  "/dev",
  "/dev/",
  "",
  "/proc/self/fd",
  "/proc/self/fdinfo/3",
  "/proc/self/fd/3",
  "/proc/1/fd",
  "x",
  "x".repeat(5000),
  "/sys/kernel/debug/dma_buf/bufinfo",
];

/**
 * Makes `n` hostile syscalls on the private machine (booted on first use, then reused).
 *
 * @param seed The PRNG seed.
 * @param n How many calls.
 * @returns How many calls were made and, by call index, the failures: `null` for an
 * `ErrnoError`, the thrown value otherwise; plus a final consistency check as one more call.
 */
export function syscallStorm(
  seed: number,
  n: number,
): { calls: number; bad: Map<number, unknown> } {
  machine ??= boot();
  const { m, k, heap, bufs, first } = machine;
  const warned = m.warnings.length;
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const fds = () => pick([...bufs, heap, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99, -1, 1e9]);
  const regions: MappedRegion[] = [];
  const args = () => {
    const ub = k.userBuffer(pick([0, 4, 8, 24, 48]));
    for (let i = 0; i < ub.bytes.length; i++) ub.bytes[i] = r() < 0.7 ? 0 : Math.floor(r() * 256);
    return pick([ub, null, { address: pick(INTS) } as never, { address: first.address } as never]);
  };
  const opened: number[] = [];
  const bad = new Map<number, unknown>();
  for (let i = 0; i < n; i++) {
    try {
      switch (Math.floor(r() * 12)) {
        case 0: {
          const fd = k.open(pick(PATHS), pick(INTS));
          if (r() < 0.5) k.close(fd);
          else opened.push(fd);
          break;
        }
        case 1: {
          // Closing a random fd would take the machine's own buffers away; close our own.
          const fd = opened.pop();
          k.close(fd ?? pick([-1, 1e9, 99]));
          break;
        }
        case 2: {
          const ret = k.ioctl(fds(), pick(CMDS), args());
          if (ret > 2 && !bufs.includes(ret) && ret !== heap) opened.push(ret);
          break;
        }
        case 3:
          regions.push(k.mmap(fds(), pick(INTS), pick(INTS), pick(INTS), pick(INTS)));
          break;
        case 4:
          k.munmap(r() < 0.5 && regions.length ? regions.pop()! : { address: pick(INTS) } as never);
          break;
        case 5:
          k.fcntl(fds(), pick([0, 1, 2, 3, 4, 1033, 1034, 9999]), pick(INTS));
          break;
        case 6:
          k.lseek(fds(), pick(INTS), pick(INTS));
          break;
        case 7:
          k.poll([{ fd: fds(), events: pick(INTS) }], 0);
          break;
        case 8:
          k.ftruncate(fds(), pick(INTS));
          break;
        case 9:
          opened.push(k.memfdCreate(pick(["a", "", "x".repeat(300)]), pick(INTS)));
          break;
        case 10:
          k.readText(pick(PATHS));
          break;
        case 11:
          r() < 0.5 ? k.readDir(pick(PATHS)) : k.readLink(pick(PATHS));
          break;
      }
    } catch (e) {
      bad.set(i, e instanceof ErrnoError ? null : e);
    }
  }
  for (const region of regions) {
    try {
      k.munmap(region);
    } catch { /* already gone */ }
  }
  for (const fd of opened) {
    try {
      k.close(fd);
    } catch { /* already closed */ }
  }
  // The machine is still consistent: bufinfo parses, nothing warned.
  try {
    const text = k.readText("/sys/kernel/debug/dma_buf/bufinfo");
    if (!/\nTotal \d+ objects, \d+ bytes\n$/.test(text)) {
      throw new Error(`bad bufinfo: ${text.slice(-80)}`);
    }
    if (m.warnings.length > warned) {
      throw new Error(`kernel warnings: ${JSON.stringify(m.warnings.slice(warned, warned + 3))}`);
    }
  } catch (e) {
    bad.set(n, e);
  }
  return { calls: n + 1, bad };
}
