/**
 * drivers/dma-buf/heaps/cma_heap.c: a heap over a CMA area. Buffers are one physically
 * contiguous run from `cma_alloc(cma, pagecount, min(get_order(size), CONFIG_CMA_ALIGNMENT))`,
 * zeroed; mmap is fault based and requires MAP_SHARED.
 *
 * @module
 */
import { Errno, fail } from "../errno.ts";
import { type dma_buf, dma_buf_export, type dma_buf_ops } from "../dma_buf.ts";
import type { dma_heap } from "../dma_heap.ts";
import { get_order, MemStore, PAGE_SIZE, type PhysExtent } from "../mm.ts";
import { type vm_area_struct, VM_MAYSHARE, VM_SHARED } from "../mmap.ts";
import type { DriverContext } from "../driver_context.ts";
import type { Cma } from "../cma.ts";
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

/** `CONFIG_CMA_ALIGNMENT` (default 8: at most 1 MiB alignment). */
export const CONFIG_CMA_ALIGNMENT = 8;

/** `struct cma_heap`. */
interface cma_heap {
  readonly machine: DriverContext;
  readonly cma: Cma;
}

interface cma_heap_buffer extends heap_buffer {
  readonly cma: Cma;
}

function cma_heap_mmap(d: dma_buf, vma: vm_area_struct): void {
  if ((vma.vm_flags & (VM_SHARED | VM_MAYSHARE)) === 0) fail(Errno.EINVAL);
  heap_mmap(heap_buffer_of(d), vma);
}

function cma_heap_dma_buf_release(d: dma_buf): void {
  const buffer = d.priv as cma_heap_buffer;
  const e = buffer.extents[0];
  buffer.machine.physmap.remove(e);
  buffer.cma.cma_release(e.phys, e.length / PAGE_SIZE);
  heap_release_store(buffer);
}

/** `cma_heap_buf_ops`. */
export const cma_heap_buf_ops: dma_buf_ops = {
  attach: (d, a) => heap_attach(heap_buffer_of(d), a),
  detach: (d, a) => heap_detach(heap_buffer_of(d), a),
  map_dma_buf: (a, dir) => heap_map_dma_buf(a, dir),
  unmap_dma_buf: (a, _sgt, dir) => heap_unmap_dma_buf(a, dir),
  begin_cpu_access: (d, dir) => heap_begin_cpu_access(heap_buffer_of(d), d, dir),
  end_cpu_access: (d, dir) => heap_end_cpu_access(heap_buffer_of(d), d, dir),
  mmap: cma_heap_mmap,
  vmap: (d) => heap_vmap(heap_buffer_of(d)),
  vunmap: (d) => heap_vunmap(heap_buffer_of(d)),
  release: cma_heap_dma_buf_release,
};

/**
 * `cma_heap_allocate(heap, len, fd_flags, heap_flags)`.
 *
 * @throws {KernelError} ENOMEM when the area has no suitable free run.
 */
export function cma_heap_allocate(
  heap: dma_heap,
  len: number,
  fd_flags: number,
  _heap_flags: number,
): dma_buf {
  const { machine: m, cma } = heap.priv as cma_heap;
  const size = len;
  const pagecount = size / PAGE_SIZE;
  const align = Math.min(get_order(size), CONFIG_CMA_ALIGNMENT);
  const phys = cma.cma_alloc(pagecount, align);
  if (phys < 0) fail(Errno.ENOMEM);
  const store = new MemStore(size);
  const extent: PhysExtent = { phys, length: size, store, offset: 0 };
  m.physmap.add(extent);
  const buffer: cma_heap_buffer = {
    machine: m,
    cma,
    len: size,
    store,
    extents: [extent],
    vmap_cnt: 0,
    vaddr: null,
    cache: heap_cpu_cache(m, store),
  };
  const d = dma_buf_export(m.dma_buf, {
    exp_name: heap.name,
    ops: cma_heap_buf_ops,
    size,
    flags: fd_flags,
    priv: buffer,
  });
  heap_cache_exported(buffer, d);
  return d;
}

/** `__add_cma_heap(cma, data)`: a heap named after the CMA area. */
export function add_cma_heap(m: DriverContext, cma: Cma): dma_heap {
  return m.dma_heap.dma_heap_add({
    name: cma.name,
    ops: { allocate: cma_heap_allocate },
    priv: { machine: m, cma } satisfies cma_heap,
  });
}
