/**
 * drivers/gpu/drm/drm_gem_shmem_helper.c: GEM objects backed by a shmem file (`"drm mm object"`,
 * zero-filled, pages allocated when first pinned), `drm_gem_shmem_dumb_create` (pitch =
 * ⌈width·bpp/8⌉, size = pitch·height rounded up to pages, in 32-bit arithmetic like the C), and
 * `drm_gem_shmem_prime_import_sg_table` (an object standing for an imported dma-buf's pages).
 * mmap refuses copy-on-write mappings (`MAP_PRIVATE` of a writable file: `EINVAL`).
 *
 * @module
 */
import { Errno, fail } from "../../../errno.ts";
import { fput } from "../../../file_table.ts";
import { PAGE_SIZE } from "../../../mm.ts";
import { VM_SHARED } from "../../../mmap.ts";
import {
  DMA_BIDIRECTIONAL,
  type dma_buf_attachment,
  dma_buf_detach,
  dma_buf_put,
  dma_buf_unmap_attachment,
  type iosys_map,
  type sg_table,
} from "../../../dma_buf.ts";
import {
  shmem_file_setup,
  type shmem_inode_info,
  shmem_read_mapping_page,
} from "../../../shmem.ts";
import type { drm_device, drm_file, drm_mode_create_dumb_args } from "./drm_drv.ts";
import {
  drm_gem_create_mmap_offset,
  drm_gem_handle_create,
  drm_gem_object,
  type drm_gem_object_funcs,
  drm_gem_object_put,
} from "./drm_gem.ts";

/** `struct drm_gem_shmem_object` (what the model needs). */
export interface drm_gem_shmem_object {
  /** The shmem inode holding the bytes (null for an imported object). */
  readonly info: shmem_inode_info | null;
  /** The shmem file (`obj->filp`), null for an imported object. */
  readonly filp: ReturnType<typeof shmem_file_setup> | null;
  /** `sgt` of an imported object. */
  sgt: sg_table | null;
  /** `map_wc`: the driver asked for write-combined CPU mappings (vgem). */
  map_wc: boolean;
  /** `vmap_use_count`. */
  vmap_use_count: number;
  /** `vaddr` while vmapped. */
  vaddr: iosys_map | null;
}

function to_shmem(obj: drm_gem_object): drm_gem_shmem_object {
  return obj.priv as drm_gem_shmem_object;
}

function u32(x: bigint): number {
  return Number(x & 0xffff_ffffn);
}

function page_align_u32(x: number): number {
  return (u32(BigInt(x) + BigInt(PAGE_SIZE - 1)) & ~(PAGE_SIZE - 1)) >>> 0;
}

/** `drm_gem_shmem_get_pages()`: every page gets a physical page (on first use). */
function drm_gem_shmem_get_pages(shmem: drm_gem_shmem_object, size: number): number[] {
  const info = shmem.info!;
  const pages: number[] = [];
  for (let i = 0; i < size / PAGE_SIZE; i++) pages.push(shmem_read_mapping_page(info, i));
  return pages;
}

/** `drm_prime_pages_to_sg()`: physically contiguous pages merge into one entry. */
function pages_to_sg(pages: number[]): { dma_address: number; length: number }[] {
  const out: { dma_address: number; length: number }[] = [];
  for (const p of pages) {
    const last = out[out.length - 1];
    if (last && last.dma_address + last.length === p) last.length += PAGE_SIZE;
    else out.push({ dma_address: p, length: PAGE_SIZE });
  }
  return out;
}

/** `drm_gem_shmem_funcs`. */
export const drm_gem_shmem_funcs: drm_gem_object_funcs = {
  free(obj) {
    const shmem = to_shmem(obj);
    if (obj.import_attach) {
      // drm_prime_gem_destroy(): unmap, detach, drop the import's dma-buf reference.
      const attach = obj.import_attach;
      const d = attach.dmabuf;
      if (shmem.sgt) dma_buf_unmap_attachment(attach, shmem.sgt, DMA_BIDIRECTIONAL);
      dma_buf_detach(d, attach);
      dma_buf_put(d);
      obj.import_attach = null;
      return;
    }
    if (shmem.filp) fput(shmem.filp);
  },
  get_sg_table(obj) {
    const shmem = to_shmem(obj);
    if (!shmem.info) return shmem.sgt!.entries.map((e) => ({ ...e }));
    return pages_to_sg(drm_gem_shmem_get_pages(shmem, obj.size));
  },
  vmap(obj) {
    const shmem = to_shmem(obj);
    if (shmem.vmap_use_count++ > 0 && shmem.vaddr) return shmem.vaddr;
    const info = shmem.info;
    if (!info) fail(Errno.EINVAL); // the model vmaps imported objects through their dma-buf only
    drm_gem_shmem_get_pages(shmem, obj.size);
    const store = info.store;
    const vaddr = obj.dev.machine.vmalloc.vmap(obj.size);
    shmem.vaddr = {
      vaddr,
      is_iomem: false,
      get bytes() {
        return new Uint8Array(store.current, 0, obj.size);
      },
    };
    return shmem.vaddr;
  },
  vunmap(obj, map) {
    const shmem = to_shmem(obj);
    if (--shmem.vmap_use_count === 0) {
      obj.dev.machine.vmalloc.vunmap(map.vaddr);
      shmem.vaddr = null;
    }
  },
  mmap(obj, vma) {
    const shmem = to_shmem(obj);
    if (obj.import_attach) {
      // dma_buf_mmap(obj->dma_buf, vma, 0): the exporter maps its own memory.
      const d = obj.import_attach.dmabuf;
      if (!d.ops.mmap) fail(Errno.EINVAL);
      const at0 = { ...vma, vm_pgoff: 0 };
      d.ops.mmap(d, at0);
      vma.vm_store = at0.vm_store;
      vma.vm_store_offset = at0.vm_store_offset;
      vma.vm_fault = at0.vm_fault;
      vma.vm_written = at0.vm_written;
      vma.vm_close = at0.vm_close;
      return;
    }
    // is_cow_mapping(): a private mapping of a writable file.
    if (!(vma.vm_flags & VM_SHARED)) fail(Errno.EINVAL);
    drm_gem_shmem_get_pages(shmem, obj.size);
    vma.vm_store = shmem.info!.store;
    vma.vm_store_offset = 0;
  },
};

/** `drm_gem_shmem_create(dev, size)`: a shmem-backed object of `PAGE_ALIGN(size)` bytes. */
export function drm_gem_shmem_create(dev: drm_device, size: number): drm_gem_object {
  size = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
  if (size === 0) fail(Errno.EINVAL);
  const filp = shmem_file_setup(dev.machine, "drm mm object", size);
  const obj = new drm_gem_object(dev, size, drm_gem_shmem_funcs);
  obj.priv = {
    info: filp.f_inode as shmem_inode_info,
    filp,
    sgt: null,
    map_wc: false,
    vmap_use_count: 0,
    vaddr: null,
  } satisfies drm_gem_shmem_object;
  drm_gem_create_mmap_offset(obj); // __drm_gem_shmem_create() makes the offset at once
  return obj;
}

/** `drm_gem_shmem_dumb_create(file, dev, args)`. */
export function drm_gem_shmem_dumb_create(
  file_priv: drm_file,
  dev: drm_device,
  args: drm_mode_create_dumb_args,
): void {
  // u32 min_pitch = DIV_ROUND_UP(args->width * args->bpp, 8);
  const min_pitch = Math.floor(
    u32((BigInt(args.width) * BigInt(args.bpp) & 0xffff_ffffn) + 7n) / 8,
  );
  if (!args.pitch || !args.size) {
    args.pitch = min_pitch;
    args.size = page_align_u32(u32(BigInt(args.pitch) * BigInt(args.height)));
  }
  const obj = drm_gem_shmem_create(dev, args.size);
  to_shmem(obj).map_wc = dev.driver.name === "vgem";
  try {
    args.handle = drm_gem_handle_create(file_priv, obj);
  } finally {
    drm_gem_object_put(obj); // the handle holds the object now
  }
}

/** `drm_gem_shmem_prime_import_sg_table(dev, attach, sgt)`. */
export function drm_gem_shmem_prime_import_sg_table(
  dev: drm_device,
  attach: dma_buf_attachment,
  sgt: sg_table,
): drm_gem_object {
  const size = Math.ceil(attach.dmabuf.size / PAGE_SIZE) * PAGE_SIZE;
  const obj = new drm_gem_object(dev, size, drm_gem_shmem_funcs);
  obj.priv = {
    info: null,
    filp: null,
    sgt,
    map_wc: false,
    vmap_use_count: 0,
    vaddr: null,
  } satisfies drm_gem_shmem_object;
  drm_gem_create_mmap_offset(obj); // private objects get one too
  return obj;
}
