/**
 * drivers/gpu/drm/drm_gem.c in miniature: `struct drm_gem_object` with its reference count and
 * handle count, per-file handles (`idr_alloc(…, 1, 0)`: the lowest free handle ≥ 1, reused after
 * close), `DRM_IOCTL_GEM_CLOSE` (`EINVAL` for an unknown handle), fake mmap offsets
 * (`drm_gem_create_mmap_offset`, from 4 GiB up) and `drm_gem_mmap` (`EINVAL` for an offset
 * that is no object's or a mapping longer than it, `EACCES` for an object this file has no handle
 * on). An object that was exported holds its dma-buf until its last handle is closed
 * (`drm_gem_object_exported_dma_buf_free`).
 *
 * @module
 */
import { Errno, fail } from "../../../errno.ts";
import type { file } from "../../../file_table.ts";
import type { vm_area_struct } from "../../../mmap.ts";
import { PAGE_SIZE } from "../../../mm.ts";
import {
  type dma_buf,
  type dma_buf_attachment,
  dma_buf_put,
  type iosys_map,
} from "../../../dma_buf.ts";
import type { dma_resv } from "../../../dma_resv.ts";
import { drm_gem_close } from "../../../../uapi/drm.ts";
import { type drm_device, type drm_file, DRM_FILE_PAGE_OFFSET_START } from "./drm_drv.ts";
import { drm_prime_remove_buf_handle } from "./drm_prime.ts";

/** `struct drm_gem_object_funcs` (what the model uses). */
export interface drm_gem_object_funcs {
  /** `free`: the last reference is gone. */
  free(obj: drm_gem_object): void;
  /** `get_sg_table`: physical pages for an importer (pins them). */
  get_sg_table(obj: drm_gem_object): { dma_address: number; length: number }[];
  /** `vmap`. */
  vmap(obj: drm_gem_object): iosys_map;
  /** `vunmap`. */
  vunmap(obj: drm_gem_object, map: iosys_map): void;
  /** `mmap`: fill in the VMA (offset 0 of the object at `vma.vm_start`). */
  mmap(obj: drm_gem_object, vma: vm_area_struct): void;
}

/** `struct drm_gem_object`. */
export class drm_gem_object {
  /** The device. */
  readonly dev: drm_device;
  /** Size in bytes (page aligned). */
  readonly size: number;
  /** Object callbacks. */
  readonly funcs: drm_gem_object_funcs;
  /** `refcount`. */
  refcount = 1;
  /** `handle_count`. */
  handle_count = 0;
  /** `dma_buf`: the exported (or imported) dma-buf this object holds a reference to. */
  dma_buf: dma_buf | null = null;
  /** `import_attach`: the attachment of an imported object. */
  import_attach: dma_buf_attachment | null = null;
  /** `resv`: its own, or the imported dma-buf's. */
  resv: dma_resv = [];
  /** Start of the fake mmap offset in pages, once made. */
  vma_node: number | null = null;
  /** Files allowed to mmap it (`drm_vma_node_allow`): those holding a handle. */
  readonly vma_allowed: Set<drm_file> = new Set();
  /** The driver's data (the shmem object). */
  priv: unknown = null;

  /**
   * `drm_gem_private_object_init(dev, obj, size)`.
   *
   * @param dev The device.
   * @param size Size in bytes.
   * @param funcs The callbacks.
   */
  constructor(dev: drm_device, size: number, funcs: drm_gem_object_funcs) {
    this.dev = dev;
    this.size = size;
    this.funcs = funcs;
  }
}

/** `drm_gem_is_imported(obj)`. */
export function drm_gem_is_imported(obj: drm_gem_object): boolean {
  return obj.import_attach !== null;
}

/** `drm_gem_object_get(obj)`. */
export function drm_gem_object_get(obj: drm_gem_object): void {
  obj.refcount++;
}

/** `drm_gem_object_put(obj)`: the last reference frees it (and its mmap offset). */
export function drm_gem_object_put(obj: drm_gem_object): void {
  if (--obj.refcount > 0) return;
  if (obj.vma_node !== null) obj.dev.vma_offset_manager.nodes.delete(obj.vma_node);
  obj.funcs.free(obj);
}

/**
 * `drm_gem_handle_create_tail(file_priv, obj, &handle)`: the lowest free handle ≥ 1 of the file;
 * the handle holds a reference and allows mmap through this file.
 */
export function drm_gem_handle_create(file_priv: drm_file, obj: drm_gem_object): number {
  let handle = 1;
  while (file_priv.object_idr.has(handle)) handle++;
  if (handle > 0x7fffffff) fail(Errno.ENOSPC);
  drm_gem_object_get(obj);
  obj.handle_count++;
  file_priv.object_idr.set(handle, obj);
  obj.vma_allowed.add(file_priv);
  return handle;
}

/** `drm_gem_object_lookup(filp, handle)`: the object with a new reference, or null. */
export function drm_gem_object_lookup(file_priv: drm_file, handle: number): drm_gem_object | null {
  const obj = file_priv.object_idr.get(handle);
  if (!obj) return null;
  drm_gem_object_get(obj);
  return obj;
}

/** `drm_gem_object_release_handle()`: what dropping one handle does to its object. */
function drm_gem_object_release_handle(handle: number, obj: drm_gem_object, f: drm_file): void {
  drm_prime_remove_buf_handle(f.prime, handle);
  // drm_vma_node_revoke(): the file may no longer mmap the object once no handle of it is left.
  let still = false;
  for (const o of f.object_idr.values()) if (o === obj) still = true;
  if (!still) obj.vma_allowed.delete(f);
  // drm_gem_object_handle_put_unlocked(): the last handle drops the export's dma-buf.
  if (--obj.handle_count === 0 && obj.dma_buf) {
    const d = obj.dma_buf;
    obj.dma_buf = null;
    dma_buf_put(d);
  }
  drm_gem_object_put(obj);
}

/**
 * `drm_gem_handle_delete(filp, handle)`.
 *
 * @throws {KernelError} EINVAL when the file has no such handle.
 */
export function drm_gem_handle_delete(file_priv: drm_file, handle: number): void {
  const obj = file_priv.object_idr.get(handle);
  if (!obj) fail(Errno.EINVAL);
  file_priv.object_idr.delete(handle);
  drm_gem_object_release_handle(handle, obj, file_priv);
}

/** `drm_gem_close_ioctl()`. */
export function drm_gem_close_ioctl(_dev: drm_device, data: DataView, file_priv: drm_file): void {
  drm_gem_handle_delete(file_priv, data.getUint32(drm_gem_close.handle, true));
}

/** `drm_gem_release(dev, file_priv)`: the file is closing, every handle goes. */
export function drm_gem_release(_dev: drm_device, file_priv: drm_file): void {
  for (const [handle, obj] of [...file_priv.object_idr]) {
    file_priv.object_idr.delete(handle);
    drm_gem_object_release_handle(handle, obj, file_priv);
  }
}

/**
 * `drm_gem_create_mmap_offset(obj)`: a fake offset (pages) unique on the device; idempotent.
 * `drm_mm` best fit: the smallest free hole that fits, at its start; else after the last node.
 */
export function drm_gem_create_mmap_offset(obj: drm_gem_object): number {
  if (obj.vma_node !== null) return obj.vma_node;
  const mgr = obj.dev.vma_offset_manager;
  const pages = obj.size / PAGE_SIZE;
  const used = [...mgr.nodes].map(([start, o]) => [start, start + o.size / PAGE_SIZE])
    .sort((a, b) => a[0] - b[0]);
  let best = -1, bestSize = Infinity, at = DRM_FILE_PAGE_OFFSET_START;
  for (const [start, end] of used) {
    const hole = start - at;
    if (hole >= pages && hole < bestSize) (best = at), (bestSize = hole);
    at = Math.max(at, end);
  }
  const start = best >= 0 ? best : at;
  mgr.nodes.set(start, obj);
  obj.vma_node = start;
  return start;
}

/** `drm_gem_mmap(filp, vma)`: the object whose fake offset starts at `vma.vm_pgoff`. */
export function drm_gem_mmap(f: file, vma: vm_area_struct): void {
  const file_priv = f.private_data as drm_file;
  const obj = file_priv.minor.dev.vma_offset_manager.nodes.get(vma.vm_pgoff);
  if (!obj) fail(Errno.EINVAL);
  if (!obj.vma_allowed.has(file_priv)) fail(Errno.EACCES);
  // drm_gem_mmap_obj(): the mapping may not be longer than the object.
  if (obj.size < vma.vm_end - vma.vm_start) fail(Errno.EINVAL);
  drm_gem_object_get(obj);
  try {
    obj.funcs.mmap(obj, vma);
  } catch (e) {
    drm_gem_object_put(obj);
    throw e;
  }
  const close = vma.vm_close;
  vma.vm_close = () => {
    close?.();
    drm_gem_object_put(obj); // drm_gem_vm_close()
  };
}
