/**
 * mm/page_alloc.c in miniature: a buddy allocator over the machine's RAM page frames, plus the
 * physical address map that tells which memory object holds the bytes of a physical address.
 *
 * The bytes themselves do not live here: each buffer keeps them in one {@linkcode MemStore}
 * (see `README.md`), and allocated page frames are registered in {@linkcode PhysMap} so that a
 * physical address (what an sg table describes) resolves back to the same bytes.
 *
 * @module
 */

import type { CpuCache } from "./cache.ts";

/** `PAGE_SHIFT`. */
export const PAGE_SHIFT = 12;
/** `PAGE_SIZE`. */
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** `MAX_PAGE_ORDER` of 6.12 (4 MiB blocks with 4 KiB pages). */
export const MAX_PAGE_ORDER = 10;

/** `PAGE_ALIGN(x)`. */
export function PAGE_ALIGN(x: number): number {
  return Math.ceil(x / PAGE_SIZE) * PAGE_SIZE;
}

/** `get_order(size)`: the smallest order whose block holds `size` bytes. */
export function get_order(size: number): number {
  let order = 0;
  while (PAGE_SIZE * 2 ** order < size) order++;
  return order;
}

/** A physical range `[base, base + size)` in bytes. */
export interface PhysRange {
  /** First byte's physical address. */
  readonly base: number;
  /** Size in bytes. */
  readonly size: number;
}

/**
 * The buddy allocator of one memory zone. Free blocks are kept per order in doubly linked lists
 * threaded through typed arrays indexed by page frame, so allocation and freeing are O(order).
 * Freed blocks go to the head of their list (LIFO, like the kernel), and merge with their buddy.
 */
export class BuddyZone {
  /** First page frame number of the zone. */
  readonly start_pfn: number;
  /** Number of page frames spanned (free or not). */
  readonly spanned_pages: number;
  /** Pages currently free (`NR_FREE_PAGES`). */
  nr_free = 0;
  /** Pages handed to the allocator at boot (`managed_pages`). */
  managed_pages = 0;
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  /** Order of the free block starting at this frame, or -1. */
  readonly #free_order: Int8Array;
  readonly #head: Int32Array = new Int32Array(MAX_PAGE_ORDER + 1).fill(-1);

  /**
   * `free_area_init()` + `memblock_free_all()`: every page outside the holes is free.
   *
   * @param span The physical range the zone spans.
   * @param holes Ranges inside `span` that are never given to the allocator (kernel image,
   *   CMA reservations).
   */
  constructor(span: PhysRange, holes: readonly PhysRange[]) {
    this.start_pfn = Math.floor(span.base / PAGE_SIZE);
    this.spanned_pages = Math.floor(span.size / PAGE_SIZE);
    this.#next = new Int32Array(this.spanned_pages);
    this.#prev = new Int32Array(this.spanned_pages);
    this.#free_order = new Int8Array(this.spanned_pages).fill(-1);
    // memblock_free_all(): hand every page outside the holes to the allocator.
    const sorted = [...holes].sort((a, b) => a.base - b.base);
    let cursor = 0;
    for (const h of sorted) {
      const hs = Math.max(0, Math.floor(h.base / PAGE_SIZE) - this.start_pfn);
      const he = Math.min(
        this.spanned_pages,
        Math.ceil((h.base + h.size) / PAGE_SIZE) - this.start_pfn,
      );
      if (he <= 0 || hs >= this.spanned_pages) continue;
      this.#free_range(cursor, hs);
      cursor = Math.max(cursor, he);
    }
    this.#free_range(cursor, this.spanned_pages);
  }

  #free_range(from: number, to: number): void {
    let i = from;
    while (i < to) {
      let order = MAX_PAGE_ORDER;
      while (order > 0 && ((i & ((1 << order) - 1)) !== 0 || i + (1 << order) > to)) order--;
      this.#push(i, order);
      this.managed_pages += 1 << order;
      this.nr_free += 1 << order;
      i += 1 << order;
    }
  }

  #push(idx: number, order: number): void {
    const head = this.#head[order];
    this.#next[idx] = head;
    this.#prev[idx] = -1;
    if (head >= 0) this.#prev[head] = idx;
    this.#head[order] = idx;
    this.#free_order[idx] = order;
  }

  #unlink(idx: number, order: number): void {
    const n = this.#next[idx], p = this.#prev[idx];
    if (p >= 0) this.#next[p] = n;
    else this.#head[order] = n;
    if (n >= 0) this.#prev[n] = p;
    this.#free_order[idx] = -1;
  }

  /**
   * `alloc_pages(gfp, order)`: a naturally aligned block of `2^order` pages.
   *
   * @returns The physical address of the block, or -1 when no block of that order is free.
   */
  alloc_pages(order: number): number {
    let o = order;
    while (o <= MAX_PAGE_ORDER && this.#head[o] < 0) o++;
    if (o > MAX_PAGE_ORDER) return -1;
    const idx = this.#head[o];
    this.#unlink(idx, o);
    // expand(): give back the upper halves.
    while (o > order) {
      o--;
      this.#push(idx + (1 << o), o);
    }
    this.nr_free -= 1 << order;
    return (this.start_pfn + idx) * PAGE_SIZE;
  }

  /** `__free_pages(page, order)`: returns a block, merging it with free buddies. */
  free_pages(phys: number, order: number): void {
    let idx = phys / PAGE_SIZE - this.start_pfn;
    this.nr_free += 1 << order;
    while (order < MAX_PAGE_ORDER) {
      const buddy = idx ^ (1 << order);
      if (buddy >= this.spanned_pages || this.#free_order[buddy] !== order) break;
      this.#unlink(buddy, order);
      idx = Math.min(idx, buddy);
      order++;
    }
    this.#push(idx, order);
  }
}

/**
 * The memory behind one buffer: a single ArrayBuffer, created on first use so that reserving a
 * large buffer costs nothing until its bytes are touched, zero-filled by construction.
 *
 * {@linkcode revoke} moves the memory to a fresh ArrayBuffer (`transfer()`, zero-copy in V8),
 * which detaches every view made so far: that is how `munmap` revokes user views. Holders must
 * therefore read {@linkcode current} again instead of keeping the ArrayBuffer.
 */
export class MemStore {
  #buf: ArrayBuffer | null = null;
  #size: number;
  /**
   * On a non-coherent machine, the CPU cache over these bytes (heap buffers, memfd pages under a
   * udmabuf): devices reach this store, CPU aliases the cache's view. Undefined when the CPU is
   * coherent with it.
   */
  cpu_cache?: CpuCache;

  /**
   * An empty store of `size` bytes.
   *
   * @param size Size in bytes.
   */
  constructor(size: number) {
    this.#size = size;
  }

  /** Size in bytes. */
  get size(): number {
    return this.#size;
  }

  /**
   * The ArrayBuffer currently holding the bytes. Never cache it across calls.
   *
   * User code can move the ArrayBuffer it got through a mapping away (`transfer()`,
   * `structuredClone`/`postMessage` with a transfer list); the bytes then leave with it, and
   * JavaScript offers no way to get them back. The store goes on with zero-filled memory: on
   * the simulated kernel a moved buffer takes the contents with it (the moved ArrayBuffer keeps
   * them, and keeps them after munmap), where on Linux both sides keep seeing the same memory
   * until munmap, after which the moved one reads zeros. Neither faults.
   */
  get current(): ArrayBuffer {
    let buf = this.#buf;
    if (buf === null || buf.detached) buf = this.#buf = new ArrayBuffer(this.#size);
    return buf;
  }

  /** Moves the bytes to a new ArrayBuffer, detaching every existing view. */
  revoke(): void {
    if (this.#buf && !this.#buf.detached) this.#buf = this.#buf.transfer();
  }

  /** Changes the size (shmem truncate), keeping the bytes that remain; detaches views. */
  resize(size: number): void {
    if (this.#buf && !this.#buf.detached) this.#buf = this.#buf.transfer(size);
    else this.#buf = null;
    this.#size = size;
  }

  /** Drops the bytes (the pages were freed). */
  release(): void {
    if (this.#buf && !this.#buf.detached) this.#buf.transfer(0);
    this.#buf = null;
  }
}

/** A run of physical memory that belongs to a memory object. */
export interface PhysExtent {
  /** Physical address of the first byte. */
  readonly phys: number;
  /** Length in bytes. */
  readonly length: number;
  /** The object holding the bytes. */
  readonly store: MemStore;
  /** Where `phys` lives inside `store`. */
  readonly offset: number;
}

const SECTION_SHIFT = 20;
const SECTION = 1 << SECTION_SHIFT;

/**
 * Physical address → (store, offset). Extents are indexed by the 1 MiB sections they touch, so
 * registering a page, and resolving an address, costs a Map look-up and a short scan.
 */
export class PhysMap {
  readonly #sections = new Map<number, PhysExtent[]>();

  /** Registers an extent (`phys` and `length` page aligned). */
  add(e: PhysExtent): void {
    const first = Math.floor(e.phys / SECTION),
      last = Math.floor((e.phys + e.length - 1) / SECTION);
    for (let s = first; s <= last; s++) {
      let list = this.#sections.get(s);
      if (!list) this.#sections.set(s, list = []);
      list.push(e);
    }
  }

  /** Removes an extent registered with {@linkcode add}. */
  remove(e: PhysExtent): void {
    const first = Math.floor(e.phys / SECTION),
      last = Math.floor((e.phys + e.length - 1) / SECTION);
    for (let s = first; s <= last; s++) {
      const list = this.#sections.get(s);
      if (!list) continue;
      const i = list.indexOf(e);
      if (i >= 0) {
        list[i] = list[list.length - 1];
        list.pop();
      }
      if (list.length === 0) this.#sections.delete(s);
    }
  }

  /** The extent holding physical address `phys`, or undefined. */
  lookup(phys: number): PhysExtent | undefined {
    const list = this.#sections.get(Math.floor(phys / SECTION));
    if (!list) return undefined;
    for (const e of list) if (phys >= e.phys && phys < e.phys + e.length) return e;
    return undefined;
  }
}
