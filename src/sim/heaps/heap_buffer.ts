/**
 * What `system_heap.c` and `cma_heap.c` share (each C file has its own copy of these helpers):
 * the buffer's page runs, per-attachment sg tables, and the vmap/mmap plumbing over the
 * buffer's {@linkcode MemStore}.
 *
 * @module
 */
import type { dma_buf, dma_buf_attachment, iosys_map, sg_table } from "../dma_buf.ts";
import type { MemStore, PhysExtent } from "../mm.ts";
import { PAGE_SIZE } from "../mm.ts";
import type { vm_area_struct } from "../mmap.ts";
import type { MachineContext } from "../context.ts";
import { dma_map_sgtable } from "../dma_mapping.ts";

/** The heap buffer behind a dma_buf (`struct system_heap_buffer` / `cma_heap_buffer`). */
export interface heap_buffer {
  /** The machine (for the vmalloc range and the physical map). */
  readonly machine: MachineContext;
  /** Size in bytes. */
  readonly len: number;
  /** The bytes. */
  readonly store: MemStore;
  /** Physical runs in buffer order; `offset` is the run's offset in the buffer. */
  readonly extents: readonly PhysExtent[];
  /** `vmap_cnt`. */
  vmap_cnt: number;
  /** `vaddr` while vmapped. */
  vaddr: iosys_map | null;
}

/** `struct dma_heap_attachment`. */
export interface dma_heap_attachment {
  /** The sg table (one entry per physical run). */
  readonly table: sg_table;
  /** Whether `map_dma_buf` is in effect. */
  mapped: boolean;
}

/** `dup_sg_table()` / `sg_alloc_table_from_pages()`: one entry per physical run. */
export function heap_attach(buffer: heap_buffer, a: dma_buf_attachment): void {
  const entries = buffer.extents.map((e) => ({ dma_address: e.phys, length: e.length }));
  const att: dma_heap_attachment = { table: { entries, nents: entries.length }, mapped: false };
  a.priv = att;
}

/** `*_heap_detach()`. */
export function heap_detach(_buffer: heap_buffer, a: dma_buf_attachment): void {
  a.priv = null;
}

/** `*_heap_map_dma_buf()`: `dma_map_sgtable` of the attachment's table for its device. */
export function heap_map_dma_buf(a: dma_buf_attachment): sg_table {
  const att = a.priv as dma_heap_attachment;
  dma_map_sgtable(a.dmabuf.subsys.sink, a.dev, att.table);
  att.mapped = true;
  return att.table;
}

/** `*_heap_unmap_dma_buf()`. */
export function heap_unmap_dma_buf(a: dma_buf_attachment): void {
  (a.priv as dma_heap_attachment).mapped = false;
}

/** `*_heap_vmap()`: refcounted; the first call takes a range of the vmalloc area. */
export function heap_vmap(buffer: heap_buffer): iosys_map {
  if (buffer.vmap_cnt > 0 && buffer.vaddr) {
    buffer.vmap_cnt++;
    return buffer.vaddr;
  }
  const vaddr = buffer.machine.vmalloc.vmap(buffer.len);
  const store = buffer.store;
  const map: iosys_map = {
    vaddr,
    is_iomem: false,
    get bytes() {
      return new Uint8Array(store.current, 0, store.size);
    },
  };
  buffer.vaddr = map;
  buffer.vmap_cnt = 1;
  return map;
}

/** `*_heap_vunmap()`. */
export function heap_vunmap(buffer: heap_buffer): void {
  if (--buffer.vmap_cnt === 0 && buffer.vaddr) {
    buffer.machine.vmalloc.vunmap(buffer.vaddr.vaddr);
    buffer.vaddr = null;
  }
}

/** The mmap part both heaps share: the VMA shows the buffer's store from `vm_pgoff`. */
export function heap_mmap(buffer: heap_buffer, vma: vm_area_struct): void {
  vma.vm_store = buffer.store;
  vma.vm_store_offset = vma.vm_pgoff * PAGE_SIZE;
}

/** The heap buffer of a dma_buf. */
export function heap_buffer_of(d: dma_buf): heap_buffer {
  return d.priv as heap_buffer;
}
