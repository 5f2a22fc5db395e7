/**
 * Bad input to any syscall is a typed errno error, never a crash: random calls with hostile
 * arguments, on a machine with real buffers, mappings and devices open.
 */
import assert from "node:assert/strict";
import { ErrnoError } from "../../src/errors.ts";
import { SimMachine } from "../../src/sim/mod.ts";
import { alloc } from "./_helpers.ts";
import { DMA_HEAP_IOCTL_ALLOC } from "../../src/uapi/dma_heap.ts";
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_B,
} from "../../src/uapi/dma_buf.ts";
import { UDMABUF_CREATE, UDMABUF_CREATE_LIST } from "../../src/uapi/udmabuf.ts";
import { TEST_DRIVERA } from "../../src/uapi/test_driver.ts";
import { MAP_SHARED, O_RDWR, PROT_READ, PROT_WRITE } from "../../src/uapi/constants.ts";

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const seed of [1, 2, 3, 42]) {
  Deno.test(`random syscalls with hostile arguments only ever throw errno errors (seed ${seed})`, () => {
    const m = new SimMachine({
      memorySize: 64 << 20,
      cma: [{ name: "c", base: 0x44000000, size: 8 << 20 }],
    });
    const k = m.process();
    const heap = k.open("/dev/dma_heap/system", O_RDWR);
    const bufs = [alloc(k, heap, 8192), alloc(k, heap, 4096)];
    const first = k.mmap(bufs[0], 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    const regions = [first];
    const r = rng(seed);
    const ints = [
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
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const fds = () => pick([...bufs, heap, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99, -1, 1e9]);
    const cmds = [
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
    const paths = [
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
      "/sys/kernel/debug/dma_buf/bufinfo",
    ];
    const args = () => {
      const ub = k.userBuffer(pick([0, 4, 8, 24, 48]));
      for (let i = 0; i < ub.bytes.length; i++) ub.bytes[i] = r() < 0.7 ? 0 : Math.floor(r() * 256);
      return pick([
        ub,
        null,
        { address: pick(ints) } as never,
        { address: first.address } as never,
      ]);
    };
    let errors = 0;
    for (let i = 0; i < 5000; i++) {
      try {
        switch (Math.floor(r() * 12)) {
          case 0: {
            const fd = k.open(pick(paths), pick(ints));
            if (r() < 0.5) k.close(fd);
            break;
          }
          case 1:
            k.close(fds());
            break;
          case 2: {
            const ret = k.ioctl(fds(), pick(cmds), args());
            if (ret > 2) k.close(ret);
            break;
          }
          case 3:
            regions.push(k.mmap(fds(), pick(ints), pick(ints), pick(ints), pick(ints)));
            break;
          case 4:
            k.munmap(r() < 0.5 ? regions.pop() ?? first : { address: pick(ints) } as never);
            break;
          case 5:
            k.fcntl(fds(), pick([0, 1, 2, 3, 4, 1030, 1033, 1034, 9999]), pick(ints));
            break;
          case 6:
            k.lseek(fds(), pick(ints), pick(ints));
            break;
          case 7:
            k.poll([{ fd: fds(), events: pick(ints) }], 0);
            break;
          case 8:
            k.ftruncate(fds(), pick(ints));
            break;
          case 9:
            k.memfdCreate(pick(["a", "", "x".repeat(300)]), pick(ints));
            break;
          case 10:
            k.readText(pick(paths));
            break;
          case 11:
            r() < 0.5 ? k.readDir(pick(paths)) : k.readLink(pick(paths));
            break;
        }
      } catch (e) {
        if (!(e instanceof ErrnoError)) throw e;
        errors++;
      }
    }
    assert.ok(errors > 1000, `only ${errors} calls failed`);
    // The machine is still consistent: every buffer in bufinfo is alive, nothing warned.
    assert.equal(m.warnings.length, 0);
    assert.match(
      k.readText("/sys/kernel/debug/dma_buf/bufinfo"),
      /\nTotal \d+ objects, \d+ bytes\n$/,
    );
  });
}
