/**
 * mm/vmalloc.c, as far as addresses go: `vmap()` hands out ranges of the kernel's vmalloc area
 * (arm64 6.12: `VMALLOC_START` = `MODULES_END` = `_PAGE_END(VA_BITS_MIN)` + `MODULES_VSIZE` (2 GiB)
 * = 0xffff800080000000, arch/arm64/include/asm/{memory,pgtable}.h; the seed's older kernel, with
 * 128 MiB of module space, printed 0xffff800010…). Addresses are BigInts, for printing only;
 * the bytes behind them are reached through the owner's memory, never through the address.
 *
 * @module
 */
import { PAGE_SIZE } from "./mm.ts";

/** Where the model's vmap ranges start. */
export const VMALLOC_START = 0xffff_8000_8000_0000n;

/** The vmalloc area of one machine. */
export class VmallocArea {
  #next = VMALLOC_START;
  readonly #live = new Map<bigint, number>();

  /** `vmap(pages, count, ...)`: a range of `size` bytes plus a guard page. */
  vmap(size: number): bigint {
    const addr = this.#next;
    const bytes = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    this.#next += BigInt(bytes + PAGE_SIZE);
    this.#live.set(addr, bytes);
    return addr;
  }

  /** `vunmap(addr)`. */
  vunmap(addr: bigint): void {
    this.#live.delete(addr);
  }

  /** Live vmap ranges. */
  get count(): number {
    return this.#live.size;
  }
}
