/**
 * mm/cma.c: Contiguous Memory Allocator areas reserved at boot and carved with a bitmap.
 *
 * `cma_alloc(cma, count, align)` finds the first run of `count` free pages whose start is a
 * multiple of `2^align` pages, exactly as `bitmap_find_next_zero_area_off` does (order_per_bit
 * 0), so the layout of a freshly booted area is deterministic.
 *
 * @module
 */
import { PAGE_SIZE } from "./mm.ts";

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

  /**
   * `cma_init_reserved_mem()`.
   *
   * @param name The area's name.
   * @param base Physical base, page aligned.
   * @param size Size in bytes, page aligned.
   */
  constructor(name: string, base: number, size: number) {
    this.name = name;
    this.base = base;
    this.count = Math.floor(size / PAGE_SIZE);
    this.#bitmap = new Uint8Array(this.count);
  }

  /**
   * `cma_alloc(cma, count, align, no_warn)`.
   *
   * @param count Pages wanted.
   * @param align Alignment order (the start is a multiple of `2^align` pages).
   * @returns The physical address of the first page, or -1 when no run is free.
   */
  cma_alloc(count: number, align: number): number {
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
    return -1;
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
