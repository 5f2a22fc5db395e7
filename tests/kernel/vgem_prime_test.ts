/**
 * A second real importer: the DRM vgem driver takes a dma-heap buffer through PRIME
 * (`DRM_IOCTL_PRIME_FD_TO_HANDLE`), the path the later vgem import tests build on. Raw libc FFI.
 *
 * Runs only where /dev/dri/card0 is vgem (the Debian guest: `run.sh --modprobe vgem`). The
 * library's own DRM API (`src/drm/`) is tested in tests/drm_test.ts and the conformance suite.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  dma_heap_allocation_data,
  DMA_HEAP_DIR,
  DMA_HEAP_IOCTL_ALLOC,
} from "../../src/uapi/dma_heap.ts";
import { O_CLOEXEC, O_RDWR } from "../../src/uapi/constants.ts";
import {
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  drm_prime_handle,
} from "../../src/uapi/drm.ts";

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

const CARD = "/dev/dri/card0";
const isVgem = readText("/sys/class/drm/card0/device/uevent")?.includes("vgem") ?? false;

Deno.test({
  name: "vgem imports a system-heap dma-buf through PRIME_FD_TO_HANDLE",
  ignore: !isVgem,
  fn() {
    assert.equal(DRM_IOCTL_PRIME_FD_TO_HANDLE, 0xc00c642e);
    const lib = Deno.dlopen(
      "libc.so.6",
      {
        open: { parameters: ["buffer", "i32"], result: "i32" }, // int open(const char *, int)
        close: { parameters: ["i32"], result: "i32" }, // int close(int)
        ioctl: { parameters: ["i32", "u32", "buffer"], result: "i32" }, // int ioctl(int, unsigned long, void *)
        __errno_location: { parameters: [], result: "pointer" }, // int *__errno_location(void)
      } as const,
    );
    const c = lib.symbols;
    const errno = () => new Deno.UnsafePointerView(c.__errno_location()!).getInt32();
    const check = (what: string, rc: number) =>
      assert.ok(rc >= 0, `${what} failed: errno ${errno()}`);
    const cstr = (s: string) => new TextEncoder().encode(s + "\0");
    try {
      const heapFd = c.open(cstr(`${DMA_HEAP_DIR}/system`), O_RDWR | O_CLOEXEC);
      check("open system heap", heapFd);
      const data = new Uint8Array(dma_heap_allocation_data.size);
      const dv = new DataView(data.buffer);
      dv.setBigUint64(dma_heap_allocation_data.len, 65536n, true);
      dv.setUint32(dma_heap_allocation_data.fd_flags, O_RDWR | O_CLOEXEC, true);
      check("DMA_HEAP_IOCTL_ALLOC", c.ioctl(heapFd, DMA_HEAP_IOCTL_ALLOC, data));
      const bufFd = dv.getUint32(dma_heap_allocation_data.fd, true);

      const card = c.open(cstr(CARD), O_RDWR | O_CLOEXEC);
      check(`open ${CARD}`, card);
      const prime = new Uint8Array(drm_prime_handle.size);
      const pv = new DataView(prime.buffer);
      pv.setInt32(drm_prime_handle.fd, bufFd, true);
      check("DRM_IOCTL_PRIME_FD_TO_HANDLE", c.ioctl(card, DRM_IOCTL_PRIME_FD_TO_HANDLE, prime));
      const handle = pv.getUint32(drm_prime_handle.handle, true);
      assert.ok(handle > 0, "a GEM handle");
      const fdinfo = Deno.readTextFileSync(`/proc/self/fdinfo/${bufFd}`);
      console.log(`GEM handle ${handle}; fdinfo of the dma-buf:\n${fdinfo}`);

      const gemClose = new Uint8Array(8);
      new DataView(gemClose.buffer).setUint32(0, handle, true);
      check("DRM_IOCTL_GEM_CLOSE", c.ioctl(card, DRM_IOCTL_GEM_CLOSE, gemClose));
      c.close(card);
      c.close(bufFd);
      c.close(heapFd);
    } finally {
      lib.close();
    }
  },
});
