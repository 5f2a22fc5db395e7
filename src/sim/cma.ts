/**
 * mm/cma.c: Contiguous Memory Allocator areas reserved at boot and carved with a bitmap.
 *
 * `cma_alloc(cma, count, align)` finds the first run of `count` free pages whose start is a
 * multiple of `2^align` pages, exactly as `bitmap_find_next_zero_area_off` does (order_per_bit
 * 0), so the layout of a freshly booted area is deterministic. A failed allocation logs what
 * `__cma_alloc` logs in 6.12 (unless `no_warn`): `cma: __cma_alloc: <name>: alloc failed,
 * req-size: <count> pages, ret: -12` (ratelimited: 10 per 5 s, then `__cma_alloc: <n> callbacks
 * suppressed`) and, every time, `cma_debug_show_areas`: `cma: number of available pages:
 * <n>@<first>+…=> <free> free of <count> total pages`. A request larger than the area, or of 0
 * pages, fails silently, as there.
 *
 * @module
 */
import { PAGE_SIZE } from "./mm.ts";
import { type LogBuf, ratelimit_state } from "./printk.ts";

/** A reserved CMA area (`struct cma`). */
export class Cma {
  /** The area's name (the device-tree node name, or `"reserved"`). */
  readonly name: string;
  /** Physical address of the first page. */
  readonly base: number;
  /** Number of pages (`cma->count`). */
  readonly count: number;
  readonly #bitmap: Uint8Array;
  /** Pages currently allocated. */
  used = 0;
  readonly #log: LogBuf | undefined;
  /** The `DEFINE_RATELIMIT_STATE` of `__cma_alloc`'s `pr_err_ratelimited` (static in C). */
  static readonly #rs = new WeakMap<LogBuf, ratelimit_state>();

  /**
   * `cma_init_reserved_mem()`.
   *
   * @param name The area's name.
   * @param base Physical base, page aligned.
   * @param size Size in bytes, page aligned.
   * @param log The kernel log failed allocations are reported to.
   */
  constructor(name: string, base: number, size: number, log?: LogBuf) {
    this.name = name;
    this.#log = log;
    this.base = base;
    this.count = Math.floor(size / PAGE_SIZE);
    this.#bitmap = new Uint8Array(this.count);
  }

  /**
   * `cma_alloc(cma, count, align, no_warn)`.
   *
   * @param count Pages wanted.
   * @param align Alignment order (the start is a multiple of `2^align` pages).
   * @param no_warn `__GFP_NOWARN`: log nothing on failure.
   * @returns The physical address of the first page, or -1 when no run is free.
   */
  cma_alloc(count: number, align: number, no_warn = false): number {
    if (count <= 0 || count > this.count) return -1;
    const step = 1 << align;
    const bm = this.#bitmap;
    let start = 0;
    outer: while (start + count <= this.count) {
      for (let i = start + count - 1; i >= start; i--) {
        if (bm[i]) {
          // Next aligned candidate after the busy page.
          start = Math.ceil((i + 1) / step) * step;
          continue outer;
        }
      }
      bm.fill(1, start, start + count);
      this.used += count;
      return this.base + start * PAGE_SIZE;
    }
    const log = this.#log;
    if (log && !no_warn) {
      let rs = Cma.#rs.get(log);
      if (!rs) Cma.#rs.set(log, rs = new ratelimit_state());
      if (rs.ratelimit(log, "__cma_alloc")) {
        log.printk(
          `cma: __cma_alloc: ${this.name}: alloc failed, req-size: ${count} pages, ret: -12`,
        );
      }
      this.#debug_show_areas(log);
    }
    return -1;
  }

  /** `cma_debug_show_areas()`: the free runs as `<pages>@<first page>`, then the totals. */
  #debug_show_areas(log: LogBuf): void {
    let s = "cma: number of available pages: ", total = 0;
    const bm = this.#bitmap;
    for (let i = 0; i < this.count;) {
      if (bm[i]) {
        i++;
        continue;
      }
      let j = i;
      while (j < this.count && !bm[j]) j++;
      s += `${total ? "+" : ""}${j - i}@${i}`;
      total += j - i;
      i = j;
    }
    log.printk(`${s}=> ${total} free of ${this.count} total pages`);
  }

  /**
   * `cma_release(cma, pages, count)`.
   *
   * @returns False when the pages are not inside this area (the kernel's return value).
   */
  cma_release(phys: number, count: number): boolean {
    const first = (phys - this.base) / PAGE_SIZE;
    if (first < 0 || first + count > this.count) return false;
    this.#bitmap.fill(0, first, first + count);
    this.used -= count;
    return true;
  }
}
