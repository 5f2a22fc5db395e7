/**
 * Sizes that can never be allocated, refused before the ioctl: a system-heap allocation larger
 * than the machine's RAM does not fail on Linux, it wakes the OOM killer, which kills this
 * process (or another one) — the system heap's allocator (`system_heap_allocate` in
 * drivers/dma-buf/heaps/system_heap.c) takes pages until the task gets a fatal signal.
 *
 * The limits are read through the kernel seam, so the simulated kernel's procfs answers too:
 * `MemTotal` and `CmaTotal` from `/proc/meminfo` (fs/proc/meminfo.c), udmabuf's
 * `size_limit_mb` from `/sys/module/udmabuf/parameters/size_limit_mb`.
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import type { ErrnoError } from "../errors.ts";
import { UDMABUF_SIZE_LIMIT_MB } from "../uapi/udmabuf.ts";

/**
 * The `/proc/meminfo` fields, in bytes (`kB` values × 1024).
 *
 * @param kernel The kernel to read from.
 * @returns Field name → bytes; empty if the file cannot be read.
 */
export function meminfo(kernel: Kernel): Map<string, number> {
  const out = new Map<string, number>();
  let text: string;
  try {
    text = kernel.readText("/proc/meminfo");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    const m = /^([\w()]+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]) * (line.includes("kB") ? 1024 : 1));
  }
  return out;
}

// Sizes at or below this are never checked: far below any machine's RAM, and the hot path.
const CHECK_ABOVE = 16 << 20;

/**
 * Why `size` bytes can never come from this heap, or undefined when they might. Sizes up to
 * 16 MiB are not checked (no file is read on the hot path).
 *
 * @param kernel The kernel.
 * @param contiguous Whether the heap is a CMA heap (then `CmaTotal` bounds it).
 * @param size The page-rounded size.
 * @returns The reason, for an `ENOMEM` error's detail.
 */
export function heapCannotFit(
  kernel: Kernel,
  contiguous: boolean,
  size: number,
): string | undefined {
  if (size <= CHECK_ABOVE) return undefined;
  const info = meminfo(kernel);
  const total = info.get("MemTotal");
  if (total !== undefined && size > total) {
    return `${size} bytes is more than this machine's RAM (MemTotal ${total} bytes in /proc/meminfo); not attempted, because the kernel would call the OOM killer instead of failing`;
  }
  const cma = info.get("CmaTotal");
  if (contiguous && cma !== undefined && size > cma) {
    return `${size} bytes is more than the CMA area (CmaTotal ${cma} bytes in /proc/meminfo)`;
  }
  return undefined;
}

/**
 * udmabuf's `size_limit_mb` in bytes: the module parameter when readable, else its default.
 *
 * @param kernel The kernel.
 * @returns The largest udmabuf the module creates, in bytes, and whether it was read (or is
 *   the module's default).
 */
export function udmabufSizeLimit(kernel: Kernel): { bytes: number; known: boolean } {
  try {
    const mb = Number(kernel.readText("/sys/module/udmabuf/parameters/size_limit_mb").trim());
    if (Number.isSafeInteger(mb) && mb > 0) return { bytes: mb * 2 ** 20, known: true };
  } catch (e) {
    void (e as ErrnoError);
  }
  return { bytes: UDMABUF_SIZE_LIMIT_MB * 2 ** 20, known: false };
}
