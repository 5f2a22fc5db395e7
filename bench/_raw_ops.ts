/**
 * The benchmarked operations as a hand-written FFI user would write them: libc symbols called
 * directly, one long-lived struct per ioctl with its pointer made once, BigInt lengths made
 * once, no library code. The baseline of every Linux group.
 *
 * @module
 */
import { loadLibc } from "../src/ffi/load.ts";
import {
  MAP_SHARED,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from "../src/uapi/constants.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
} from "../src/uapi/dma_buf.ts";
import { DMA_HEAP_IOCTL_ALLOC } from "../src/uapi/dma_heap.ts";
import { HEAP_PATH, NAME, type OpSet } from "./_ops.ts";

const MAP_FAILED = 0xffff_ffff_ffff_ffffn;
const decoder = new TextDecoder();

/** An off-heap NUL-terminated string and its pointer (kept alive by the returned array). */
function cString(s: string): [Uint8Array, Deno.PointerValue] {
  const bytes = new Uint8Array(new ArrayBuffer(s.length + 1));
  new TextEncoder().encodeInto(s, bytes);
  return [bytes, Deno.UnsafePointer.of(bytes)];
}

/** A struct of `size` bytes, its DataView and pointer. */
function struct(size: number): [DataView, Deno.PointerValue] {
  const ab = new ArrayBuffer(size);
  return [new DataView(ab), Deno.UnsafePointer.of(ab)];
}

/**
 * The operations through raw libc FFI.
 *
 * @param size The buffer size.
 * @throws {Error} With errno when a call fails (never on the measured path when all is well).
 */
export function rawOps(size: number): OpSet {
  const { symbols: c, errno } = loadLibc();
  const fail = (what: string) => new Error(`${what} failed: errno ${errno[0]}`);
  const [heapPath, heapPathPtr] = cString(HEAP_PATH);
  const heapFd = c.open(heapPathPtr, O_RDONLY | O_CLOEXEC, 0);
  if (heapFd < 0) throw fail(`open(${HEAP_PATH})`);
  const [alloc, allocPtr] = struct(24); // struct dma_heap_allocation_data
  const allocate = (): number => {
    alloc.setUint32(0, size, true); // len (low half)
    alloc.setUint32(8, 0, true); // fd: the kernel wants 0 in
    alloc.setUint32(12, O_RDWR | O_CLOEXEC, true); // fd_flags
    if (c.ioctl(heapFd, DMA_HEAP_IOCTL_ALLOC, allocPtr) < 0) throw fail("DMA_HEAP_IOCTL_ALLOC");
    return alloc.getInt32(8, true);
  };
  const fd = allocate();
  const [sync, syncPtr] = struct(8); // struct dma_buf_sync
  const syncIoctl = (flags: number) => {
    sync.setUint32(0, flags, true);
    if (c.ioctl(fd, DMA_BUF_IOCTL_SYNC, syncPtr) < 0) throw fail("DMA_BUF_IOCTL_SYNC");
  };
  const [name, namePtr] = cString(NAME);
  const len = BigInt(size);
  const mapping = c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
  if (mapping === null || Deno.UnsafePointer.value(mapping) === MAP_FAILED) throw fail("mmap");
  // SAFETY: `mapping` is `size` bytes just mapped; the view is dropped before `munmap` in close().
  const view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(mapping, size));
  const [path, pathPtr] = cString(`/proc/self/fdinfo/${fd}`);
  const text = new Uint8Array(new ArrayBuffer(4096));
  const textPtr = Deno.UnsafePointer.of(text);
  const textLen = BigInt(text.length);
  let v = 0;
  const keep = [heapPath, name, path]; // C strings stay reachable while the ops live
  return {
    run: {
      alloc: () => {
        if (c.close(allocate()) < 0) throw fail("close");
      },
      map: () => {
        const p = c.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
        if (p === null || Deno.UnsafePointer.value(p) === MAP_FAILED) throw fail("mmap");
        // SAFETY: `p` was just mapped with `size` bytes; the buffer is detached before munmap.
        Deno.UnsafePointerView.getArrayBuffer(p, size).transfer(0);
        if (c.munmap(p, len) < 0) throw fail("munmap");
      },
      sync: () => {
        syncIoctl(DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
        syncIoctl(DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
      },
      fill: () => {
        syncIoctl(DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
        view.fill(++v & 0xff);
        syncIoctl(DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
      },
      setname: () => {
        if (c.ioctl(fd, DMA_BUF_SET_NAME_B, namePtr) < 0) throw fail("DMA_BUF_SET_NAME_B");
      },
      info: () => {
        const f = c.open(pathPtr, O_RDONLY | O_CLOEXEC, 0);
        if (f < 0) throw fail("open(fdinfo)");
        // Read to end of file, as C and the library do (fdinfo fits in one read; the second
        // returns 0).
        let n = 0;
        for (let r; (r = Number(c.read(f, textPtr, textLen))) !== 0; n = r) {
          if (r < 0) throw fail("read(fdinfo)");
        }
        c.close(f);
        const s = decoder.decode(text.subarray(0, n));
        const at = s.indexOf("\nsize:");
        if (at < 0 || Number.parseInt(s.slice(at + 6), 10) !== size) throw new Error("size?");
      },
    },
    close() {
      keep.length = 0;
      view.buffer.transfer(0);
      c.munmap(mapping, len);
      c.close(fd);
      c.close(heapFd);
    },
  };
}
