/**
 * Sizes that can never be allocated, refused before the ioctl: a system-heap allocation larger
 * than the machine's RAM does not fail on Linux, it wakes the OOM killer, which kills this
 * process (or another one) — the system heap's allocator (`system_heap_allocate` in
 * drivers/dma-buf/heaps/system_heap.c) takes pages until the task gets a fatal signal.
 *
 * The same holds below `MemTotal`, for any size above what the kernel can free: the system heap
 * tries orders 8 and 4 with `__GFP_NORETRY` and without reclaim, but falls back to order-0
 * pages with `GFP_HIGHUSER`, an allocation the page allocator retries through reclaim and then
 * the OOM killer (mm/page_alloc.c `__alloc_pages_may_oom`) rather than fail. Its pages are not
 * on any LRU and cannot be swapped, and they are not charged to the task (no `__GFP_ACCOUNT`,
 * not in its RSS), so the OOM killer's badness score does not point at the allocating process:
 * it may kill another one first, and the allocation goes on until this task is killed too
 * (`fatal_signal_pending` → `-EINTR`). `MemAvailable` (fs/proc/meminfo.c,
 * `si_mem_available`: free pages above the watermarks plus reclaimable page cache and slab) is
 * the kernel's own estimate of what can be had without swapping; a system-heap size above it is
 * refused unless the caller opts in (`overcommit`). It is an estimate taken before the ioctl:
 * other processes can use memory in between, so a size just below it can still end in the OOM
 * killer on a machine under memory pressure.
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

/** Which bound applies to a heap. */
export type HeapKind = "contiguous" | "system" | "other";

/**
 * Why `size` bytes can never come from this heap — or, for a system heap, cannot come without
 * the OOM killer — or undefined when they might. Sizes up to 16 MiB are not checked (no file is
 * read on the hot path).
 *
 * @param kernel The kernel.
 * @param kind `"contiguous"` for a CMA heap (`CmaTotal` bounds it), `"system"` for a heap of
 *   drivers/dma-buf/heaps/system_heap.c (`MemAvailable` bounds it unless `overcommit`).
 * @param size The page-rounded size.
 * @param overcommit Skip the `MemAvailable` bound (`MemTotal` and `CmaTotal` still apply).
 * @returns The reason, for an `ENOMEM` error's detail.
 */
export function heapCannotFit(
  kernel: Kernel,
  kind: HeapKind,
  size: number,
  overcommit = false,
): string | undefined {
  if (size <= CHECK_ABOVE) return undefined;
  const info = meminfo(kernel);
  const total = info.get("MemTotal");
  if (total !== undefined && size > total) {
    return `${size} bytes is more than this machine's RAM (MemTotal ${total} bytes in /proc/meminfo); not attempted, because the kernel would call the OOM killer instead of failing`;
  }
  const available = info.get("MemAvailable");
  if (kind === "system" && !overcommit && available !== undefined && size > available) {
    return `${size} bytes is more than the kernel can free (MemAvailable ${available} bytes in /proc/meminfo); not attempted, because the system heap would call the OOM killer, which can kill this process or another, instead of failing. Free memory first, or pass { overcommit: true } to try anyway`;
  }
  const contiguous = kind === "contiguous";
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
