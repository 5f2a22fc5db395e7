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
import {
  DMA_BIDIRECTIONAL,
  type dma_buf as dma_buf_t,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
} from "../dma_buf.ts";
import { cpu_dir_bits, CpuCache } from "../cache.ts";

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
  /** The CPU cache over `store` on a non-coherent machine, else null. */
  readonly cache: CpuCache | null;
}

/** The CPU cache for a new heap buffer's store: one on a non-coherent machine, else null. */
export function heap_cpu_cache(m: MachineContext, store: MemStore): CpuCache | null {
  if (m.coherency !== "non-coherent") return null;
  const cache = new CpuCache(store, m);
  store.cpu_cache = cache;
  return cache;
}

/** Gives the cache the exported buffer's identity (inode, name) for its reports. */
export function heap_cache_exported(buffer: heap_buffer, d: dma_buf_t): void {
  if (!buffer.cache) return;
  buffer.cache.ident = {
    get ino() {
      return d.file.f_inode.i_ino;
    },
    get name() {
      return d.name;
    },
  };
}

/** What CPU aliases (user mmaps, vmaps) show: the cache's view, or the memory itself. */
function cpu_store(buffer: heap_buffer): MemStore {
  return buffer.cache ? buffer.cache.view : buffer.store;
}

/**
 * `*_heap_dma_buf_begin_cpu_access()`: `dma_sync_sgtable_for_cpu()` through every mapped
 * attachment — arm64 invalidates unless the direction is `DMA_TO_DEVICE` — and nothing when no
 * device has the buffer mapped (its next map/unmap maintains the cache). `invalidate_kernel_vmap_range`
 * is a no-op on arm64 (physically tagged caches).
 */
export function heap_begin_cpu_access(buffer: heap_buffer, d: dma_buf_t, dir: number): void {
  const cache = buffer.cache;
  if (!cache) return;
  const mapped = d.attachments.some((a) => a.mapped > 0);
  cache.begin(cpu_dir_bits(dir), mapped && dir !== DMA_TO_DEVICE);
}

/**
 * `*_heap_dma_buf_end_cpu_access()`: `dma_sync_sgtable_for_device()` through every mapped
 * attachment, which cleans on arm64 whatever the direction, and nothing when no device has the
 * buffer mapped: the lines stay dirty until a device's `dma_map_sgtable` cleans them, before it
 * can read them. (With the sanitizer on, the model cleans at every END all the same: the clean
 * is its record of what the access wrote, against which later CPU writes are told apart. A
 * device only sees the difference if it reads memory without a mapping.)
 */
export function heap_end_cpu_access(buffer: heap_buffer, d: dma_buf_t, dir: number): void {
  const cache = buffer.cache;
  if (!cache) return;
  cache.end(cpu_dir_bits(dir), d.attachments.some((a) => a.mapped > 0));
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
export function heap_map_dma_buf(a: dma_buf_attachment, dir: number = DMA_BIDIRECTIONAL): sg_table {
  const att = a.priv as dma_heap_attachment;
  dma_map_sgtable(a.dmabuf.subsys.sink, a.dev, att.table);
  const cache = (a.dmabuf.priv as heap_buffer).cache;
  if (cache) {
    // dma_map_sgtable() → arch_sync_dma_for_device(): the device may read from here on.
    if (dir !== DMA_FROM_DEVICE) {
      cache.device_read(0, cache.mem.size, `${a.dev.name} (map_attachment)`);
    }
    cache.clean();
  }
  att.mapped = true;
  return att.table;
}

/** `*_heap_unmap_dma_buf()`. */
export function heap_unmap_dma_buf(a: dma_buf_attachment, dir: number = DMA_BIDIRECTIONAL): void {
  (a.priv as dma_heap_attachment).mapped = false;
  // dma_unmap_sgtable() → arch_sync_dma_for_cpu(): invalidate unless the device only read.
  if (dir !== DMA_TO_DEVICE) {
    (a.dmabuf.priv as heap_buffer).cache?.invalidate(`${a.dev.name}'s unmap`);
  }
}

/** `*_heap_vmap()`: refcounted; the first call takes a range of the vmalloc area. */
export function heap_vmap(buffer: heap_buffer): iosys_map {
  if (buffer.vmap_cnt > 0 && buffer.vaddr) {
    buffer.vmap_cnt++;
    return buffer.vaddr;
  }
  const vaddr = buffer.machine.vmalloc.vmap(buffer.len);
  const store = cpu_store(buffer);
  const map: iosys_map = {
    vaddr,
    is_iomem: false,
    get bytes() {
      return new Uint8Array(store.current, 0, store.size);
    },
    cache: buffer.cache,
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
  vma.vm_store = cpu_store(buffer);
  vma.vm_store_offset = vma.vm_pgoff * PAGE_SIZE;
}

/** Frees the cache's stores with the buffer's. */
export function heap_release_store(buffer: heap_buffer): void {
  buffer.cache?.release();
  buffer.store.release();
}

/** The heap buffer of a dma_buf. */
export function heap_buffer_of(d: dma_buf): heap_buffer {
  return d.priv as heap_buffer;
}
