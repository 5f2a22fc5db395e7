/**
 * drivers/dma-buf/heaps/system_heap.c: the `system` heap. Buffers are built from the largest
 * page blocks available — orders 8, 4, 0 (1 MiB, 64 KiB, 4 KiB) — never going back up to a
 * larger order once a smaller one was needed, and are always zeroed. mmap maps page by page with
 * `remap_pfn_range`, whose COW rule makes a MAP_PRIVATE mapping of more than one page EINVAL.
 *
 * @module
 */
import { Errno, fail } from "../errno.ts";
import { type dma_buf, dma_buf_export, type dma_buf_ops } from "../dma_buf.ts";
import type { dma_heap } from "../dma_heap.ts";
import { MemStore, PAGE_SIZE, type PhysExtent } from "../mm.ts";
import { type vm_area_struct, VM_SHARED } from "../mmap.ts";
import type { DriverContext } from "../driver_context.ts";
import {
  heap_attach,
  heap_begin_cpu_access,
  type heap_buffer,
  heap_buffer_of,
  heap_cache_exported,
  heap_cpu_cache,
  heap_detach,
  heap_end_cpu_access,
  heap_map_dma_buf,
  heap_mmap,
  heap_release_store,
  heap_unmap_dma_buf,
  heap_vmap,
  heap_vunmap,
} from "./heap_buffer.ts";

/** `orders[]`: the block orders tried, largest first. */
export const orders = [8, 4, 0] as const;

function system_heap_mmap(d: dma_buf, vma: vm_area_struct): void {
  const buffer = heap_buffer_of(d);
  const pages = (vma.vm_end - vma.vm_start) / PAGE_SIZE;
  if (!(vma.vm_flags & VM_SHARED)) {
    // remap_pfn_range() on a COW mapping must cover the whole VMA: only a 1-page one works.
    if (pages > 1) fail(Errno.EINVAL);
    const priv = new MemStore(PAGE_SIZE);
    const off = vma.vm_pgoff * PAGE_SIZE;
    const cpu = buffer.cache ? buffer.cache.view : buffer.store; // what the CPU reads
    new Uint8Array(priv.current).set(new Uint8Array(cpu.current, off, PAGE_SIZE));
    vma.vm_store = priv;
    vma.vm_store_offset = 0;
    return;
  }
  heap_mmap(buffer, vma);
}

function system_heap_dma_buf_release(d: dma_buf): void {
  const buffer = heap_buffer_of(d);
  const m = buffer.machine;
  for (const e of buffer.extents) {
    m.physmap.remove(e);
    m.zone.free_pages(e.phys, Math.log2(e.length / PAGE_SIZE));
  }
  heap_release_store(buffer);
}

/** `system_heap_buf_ops`. */
export const system_heap_buf_ops: dma_buf_ops = {
  attach: (d, a) => heap_attach(heap_buffer_of(d), a),
  detach: (d, a) => heap_detach(heap_buffer_of(d), a),
  map_dma_buf: (a, dir) => heap_map_dma_buf(a, dir),
  unmap_dma_buf: (a, _sgt, dir) => heap_unmap_dma_buf(a, dir),
  begin_cpu_access: (d, dir) => heap_begin_cpu_access(heap_buffer_of(d), d, dir),
  end_cpu_access: (d, dir) => heap_end_cpu_access(heap_buffer_of(d), d, dir),
  mmap: system_heap_mmap,
  vmap: (d) => heap_vmap(heap_buffer_of(d)),
  vunmap: (d) => heap_vunmap(heap_buffer_of(d)),
  release: system_heap_dma_buf_release,
};

/** `alloc_largest_available(size, max_order)`: the order got, with its block, or null. */
function alloc_largest_available(
  m: DriverContext,
  size: number,
  max_order: number,
): { phys: number; order: number } | null {
  for (const order of orders) {
    if (size < PAGE_SIZE << order) continue;
    if (max_order < order) continue;
    const phys = m.zone.alloc_pages(order);
    if (phys < 0) continue;
    return { phys, order };
  }
  return null;
}

/**
 * `system_heap_allocate(heap, len, fd_flags, heap_flags)`.
 *
 * @throws {KernelError} ENOMEM when memory runs out (every block taken is given back).
 */
export function system_heap_allocate(
  heap: dma_heap,
  len: number,
  fd_flags: number,
  _heap_flags: number,
): dma_buf {
  const m = heap.priv as DriverContext;
  const store = new MemStore(len);
  const extents: PhysExtent[] = [];
  let size_remaining = len;
  let max_order: number = orders[0];
  // A request larger than all free memory fails without walking it page by page.
  if (len / PAGE_SIZE > m.zone.nr_free) size_remaining = -1;
  while (size_remaining > 0) {
    const got = alloc_largest_available(m, size_remaining, max_order);
    if (!got) break;
    const length = PAGE_SIZE << got.order;
    extents.push({ phys: got.phys, length, store, offset: len - size_remaining });
    size_remaining -= length;
    max_order = got.order;
  }
  if (size_remaining !== 0) {
    for (const e of extents) m.zone.free_pages(e.phys, Math.log2(e.length / PAGE_SIZE));
    fail(Errno.ENOMEM);
  }
  for (const e of extents) m.physmap.add(e);
  const buffer: heap_buffer = {
    machine: m,
    len,
    store,
    extents,
    vmap_cnt: 0,
    vaddr: null,
    cache: heap_cpu_cache(m, store),
  };
  const d = dma_buf_export(m.dma_buf, {
    exp_name: heap.name,
    ops: system_heap_buf_ops,
    size: len,
    flags: fd_flags,
    priv: buffer,
  });
  heap_cache_exported(buffer, d);
  return d;
}

/** `system_heap_create()`: registers the `system` heap. */
export function system_heap_create(m: DriverContext): dma_heap {
  return m.dma_heap.dma_heap_add({
    name: "system",
    ops: { allocate: system_heap_allocate },
    priv: m,
  });
}
