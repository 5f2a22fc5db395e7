/**
 * The seed's user-space program, end to end on a real kernel, with raw libc FFI only (no library
 * code): allocate 1 MiB from a dma-heap (the CMA heap when there is one), mmap it, write
 * "driverA: userspace!", hand the fd to the test_driver module's /dev/driverA and /dev/driverB,
 * and read back what the importers wrote through their vmap. Checks the module's dmesg lines.
 *
 * Runs only inside a test guest (tools/kernel/run.sh), where /dev/driverA exists; ignored
 * elsewhere.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  dma_heap_allocation_data,
  DMA_HEAP_DIR,
  DMA_HEAP_IOCTL_ALLOC,
} from "../../src/uapi/dma_heap.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
} from "../../src/uapi/dma_buf.ts";
import { MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE } from "../../src/uapi/constants.ts";
import {
  buf_info,
  DRIVER_A_STRING,
  DRIVER_B_STRING,
  TEST_DRIVERA,
  TEST_DRIVERB,
} from "../../src/uapi/test_driver.ts";

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const inGuest = exists("/dev/driverA");
const SIZE = 1024 * 1024;

function libc() {
  return Deno.dlopen(
    "libc.so.6",
    {
      open: { parameters: ["buffer", "i32"], result: "i32" }, // int open(const char *, int)
      close: { parameters: ["i32"], result: "i32" }, // int close(int)
      ioctl: { parameters: ["i32", "u32", "buffer"], result: "i32" }, // int ioctl(int, unsigned long, void *)
      // void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
      mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
      munmap: { parameters: ["pointer", "usize"], result: "i32" }, // int munmap(void *, size_t)
      __errno_location: { parameters: [], result: "pointer" }, // int *__errno_location(void)
    } as const,
  );
}

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

function readCString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? 64 : end));
}

async function dmesg(): Promise<string> {
  const out = await new Deno.Command("dmesg").output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "seed demo: driverA and driverB import a heap buffer through the real test_driver module",
  ignore: !inGuest,
  async fn() {
    const lib = libc();
    const c = lib.symbols;
    const errno = () => new Deno.UnsafePointerView(c.__errno_location()!).getInt32();
    const check = (what: string, rc: number) => assert(rc >= 0, `${what} failed: errno ${errno()}`);
    try {
      // The CMA heap when there is one: `reserved` (custom guest), `global_cma@68000000` (arm64).
      const heap = [...Deno.readDirSync(DMA_HEAP_DIR)].map((e) => e.name).sort()
        .find((n) => n !== "system") ?? "system";
      const heapFd = c.open(cstr(`${DMA_HEAP_DIR}/${heap}`), O_RDWR | O_CLOEXEC);
      check(`open ${heap} heap`, heapFd);

      const data = new Uint8Array(dma_heap_allocation_data.size);
      const dv = new DataView(data.buffer);
      dv.setBigUint64(dma_heap_allocation_data.len, BigInt(SIZE), true);
      dv.setUint32(dma_heap_allocation_data.fd_flags, O_RDWR | O_CLOEXEC, true);
      check("DMA_HEAP_IOCTL_ALLOC", c.ioctl(heapFd, DMA_HEAP_IOCTL_ALLOC, data));
      const bufFd = dv.getUint32(dma_heap_allocation_data.fd, true);

      const p = c.mmap(null, BigInt(SIZE), PROT_READ | PROT_WRITE, MAP_SHARED, bufFd, 0n);
      if (p === null || Deno.UnsafePointer.value(p) === 2n ** 64n - 1n) {
        throw new Error(`mmap failed: errno ${errno()}`);
      }
      // SAFETY: p maps SIZE bytes until the munmap below; the view is detached before it.
      const ab = Deno.UnsafePointerView.getArrayBuffer(p, SIZE);
      const mem = new Uint8Array(ab);

      const sync = new Uint8Array(8);
      const syncView = new DataView(sync.buffer);
      const cpuAccess = (flags: number) => {
        syncView.setBigUint64(0, BigInt(flags), true);
        check("DMA_BUF_IOCTL_SYNC", c.ioctl(bufFd, DMA_BUF_IOCTL_SYNC, sync));
      };

      cpuAccess(DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
      mem.set(cstr("driverA: userspace!"));
      cpuAccess(DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);

      const info = new Uint8Array(buf_info.size);
      const iv = new DataView(info.buffer);
      iv.setInt32(buf_info.fd, bufFd, true);
      iv.setBigUint64(buf_info.buf, Deno.UnsafePointer.value(p), true);
      iv.setUint32(buf_info.size_, SIZE, true);

      const results: string[] = [];
      for (const [dev, req] of [["driverA", TEST_DRIVERA], ["driverB", TEST_DRIVERB]] as const) {
        const fd = c.open(cstr(`/dev/${dev}`), O_RDWR);
        check(`open /dev/${dev}`, fd);
        check(`ioctl ${dev}`, c.ioctl(fd, req, info));
        c.close(fd);
        cpuAccess(DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
        results.push(readCString(mem));
        cpuAccess(DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
        console.log(`${dev} buf = ${results.at(-1)}`);
      }
      assert.deepEqual(results, [DRIVER_A_STRING, DRIVER_B_STRING]);

      ab.transfer(0);
      check("munmap", c.munmap(p, BigInt(SIZE)));
      c.close(bufFd);
      c.close(heapFd);

      const log = (await dmesg()).split("\n").filter((l) =>
        l.includes("test_") || l.includes("fd[")
      );
      console.log(log.slice(-8).join("\n"));
      const text = log.join("\n");
      assert.match(text, new RegExp(`fd\\[${bufFd}\\], buf\\[0x[0-9a-f]+\\], size\\[0x100000\\]`));
      assert.match(text, /<test_dma_access: \d+>addr = 0x[0-9a-f]{8,}, len = 0x[0-9a-f]+/);
      assert.match(text, /<test_cpu_access: \d+>addr = 0x[0-9a-f]+, str = driverA: userspace!/);
      assert.match(text, /<test_cpu_access: \d+>addr = 0x[0-9a-f]+, str = driverA kernel space!/);
      if (heap !== "system") {
        // The seed's region at 0x68000000: the buffer is one contiguous entry inside it.
        assert.match(text, /addr = 0x6[89a-f][0-9a-f]{6}, len = 0x100000/);
      }
    } finally {
      lib.close();
    }
  },
});
