/**
 * drivers/gpu/drm/drm_prime.c: PRIME, GEM objects ⇄ dma-bufs.
 *
 * - `PRIME_FD_TO_HANDLE`: `dma_buf_get` (`EBADF`, `EINVAL` for a non-dma-buf); a dma-buf this
 *   file already knows gives its handle again; one exported by this device gives back its own GEM
 *   object; any other is attached to the device (`vgem`), mapped `DMA_BIDIRECTIONAL` and wrapped
 *   by the driver (`gem_prime_import_sg_table`), sharing the dma-buf's reservation object.
 * - `PRIME_HANDLE_TO_FD`: flags other than `DRM_CLOEXEC | DRM_RDWR` are `EINVAL`, an unknown
 *   handle `ENOENT`; an imported object gives back the dma-buf it came from, an exported one the
 *   same dma-buf again (with the flags of its first export); a new export is a dma-buf named
 *   `drm` (`exp_name = KBUILD_MODNAME`) over the object, sharing its reservation object.
 * - References (what fdinfo `count` shows): the import holds one on the dma-buf, the object one
 *   (`obj->dma_buf`), and each file's PRIME cache entry one — until the handle is closed.
 *
 * @module
 */
import { Errno, fail } from "../../../errno.ts";
import type { Task } from "../../../sched.ts";
import {
  DMA_BIDIRECTIONAL,
  type dma_buf,
  dma_buf_attach,
  dma_buf_detach,
  dma_buf_export,
  dma_buf_get,
  dma_buf_map_attachment,
  type dma_buf_ops,
  dma_buf_put,
  get_dma_buf,
} from "../../../dma_buf.ts";
import { dma_map_sgtable } from "../../../dma_mapping.ts";
import { O_CLOEXEC } from "../../../../uapi/constants.ts";
import { DRM_CLOEXEC, drm_prime_handle, DRM_RDWR } from "../../../../uapi/drm.ts";
import type { drm_device, drm_file, drm_prime_file_private } from "./drm_drv.ts";
import {
  drm_gem_handle_create,
  type drm_gem_object,
  drm_gem_object_get,
  drm_gem_object_lookup,
  drm_gem_object_put,
} from "./drm_gem.ts";

/** `drm_prime_add_buf_handle()`: the cache entry holds a reference on the dma-buf. */
function drm_prime_add_buf_handle(p: drm_prime_file_private, d: dma_buf, handle: number): void {
  get_dma_buf(d);
  p.dmabufs.set(d, handle);
  p.handles.set(handle, d);
}

/** `drm_prime_remove_buf_handle()`. */
export function drm_prime_remove_buf_handle(p: drm_prime_file_private, handle: number): void {
  const d = p.handles.get(handle);
  if (!d) return;
  p.handles.delete(handle);
  p.dmabufs.delete(d);
  dma_buf_put(d);
}

/** `drm_gem_dmabuf_release()`: the dma-buf's reference on its GEM object goes. */
function drm_gem_dmabuf_release(d: dma_buf): void {
  drm_gem_object_put(d.priv as drm_gem_object);
}

/** `drm_gem_prime_dmabuf_ops`: the exporter side of a GEM object. */
export const drm_gem_prime_dmabuf_ops: dma_buf_ops = {
  // drm_gem_map_attach() pins, drm_gem_map_dma_buf() maps the object's pages for the device.
  map_dma_buf(a) {
    const obj = a.dmabuf.priv as drm_gem_object;
    const entries = obj.funcs.get_sg_table(obj);
    return dma_map_sgtable(a.dmabuf.subsys.sink, a.dev, { entries, nents: entries.length });
  },
  unmap_dma_buf() {},
  release: drm_gem_dmabuf_release,
  mmap(d, vma) {
    // drm_gem_prime_mmap() → the object's mmap, from the dma-buf's page offset.
    const obj = d.priv as drm_gem_object;
    obj.funcs.mmap(obj, vma);
    vma.vm_store_offset += vma.vm_pgoff * 4096;
  },
  vmap: (d) => (d.priv as drm_gem_object).funcs.vmap(d.priv as drm_gem_object),
  vunmap: (d, map) => (d.priv as drm_gem_object).funcs.vunmap(d.priv as drm_gem_object, map),
};

/** `drm_gem_prime_export(obj, flags)`: a dma-buf over the object, sharing its resv. */
function drm_gem_prime_export(obj: drm_gem_object, flags: number): dma_buf {
  const d = dma_buf_export(obj.dev.machine.dma_buf, {
    exp_name: "drm", // KBUILD_MODNAME of drm_prime.c: "white lie for debug"
    ops: drm_gem_prime_dmabuf_ops,
    size: obj.size,
    flags,
    priv: obj,
    resv: obj.resv,
  });
  drm_gem_object_get(obj); // drm_gem_dmabuf_export(): the dma-buf holds the object
  return d;
}

/** `drm_gem_prime_import_dev(dev, dma_buf, attach_dev)`. */
function drm_gem_prime_import(dev: drm_device, d: dma_buf): drm_gem_object {
  if (d.ops === drm_gem_prime_dmabuf_ops) {
    const obj = d.priv as drm_gem_object;
    if (obj.dev === dev) {
      // Importing a dma-buf exported from our own GEM object takes a reference on the object.
      drm_gem_object_get(obj);
      return obj;
    }
  }
  const import_sg_table = dev.driver.gem_prime_import_sg_table;
  if (!import_sg_table) fail(Errno.EINVAL);
  const attach = dma_buf_attach(d, dev.dev);
  get_dma_buf(d);
  let sgt;
  try {
    sgt = dma_buf_map_attachment(attach, DMA_BIDIRECTIONAL);
  } catch (e) {
    dma_buf_detach(d, attach);
    dma_buf_put(d);
    throw e;
  }
  const obj = import_sg_table(dev, attach, sgt);
  obj.import_attach = attach;
  obj.resv = d.resv;
  return obj;
}

/** `drm_gem_prime_fd_to_handle(dev, file_priv, prime_fd, &handle)`. */
function drm_gem_prime_fd_to_handle(
  dev: drm_device,
  file_priv: drm_file,
  current: Task,
  prime_fd: number,
): number {
  const d = dma_buf_get(current, prime_fd);
  try {
    const known = file_priv.prime.dmabufs.get(d);
    if (known !== undefined) return known;
    const obj = drm_gem_prime_import(dev, d);
    if (!obj.dma_buf) {
      obj.dma_buf = d;
      get_dma_buf(d);
    }
    let handle: number;
    try {
      handle = drm_gem_handle_create(file_priv, obj);
    } finally {
      drm_gem_object_put(obj);
    }
    drm_prime_add_buf_handle(file_priv.prime, d, handle);
    return handle;
  } finally {
    dma_buf_put(d);
  }
}

/** `drm_prime_fd_to_handle_ioctl()`. */
export function drm_prime_fd_to_handle_ioctl(
  dev: drm_device,
  data: DataView,
  file_priv: drm_file,
  current: Task,
): void {
  const P = drm_prime_handle;
  const handle = drm_gem_prime_fd_to_handle(dev, file_priv, current, data.getInt32(P.fd, true));
  data.setUint32(P.handle, handle, true);
}

/** `drm_gem_prime_handle_to_dmabuf(dev, file_priv, handle, flags)`: a dma-buf reference. */
function drm_gem_prime_handle_to_dmabuf(
  file_priv: drm_file,
  handle: number,
  flags: number,
): dma_buf {
  const obj = drm_gem_object_lookup(file_priv, handle);
  if (!obj) fail(Errno.ENOENT);
  try {
    const cached = file_priv.prime.handles.get(handle);
    if (cached) {
      get_dma_buf(cached);
      return cached;
    }
    let d: dma_buf;
    if (obj.import_attach) {
      d = obj.import_attach.dmabuf; // re-export the original imported object
      get_dma_buf(d);
    } else if (obj.dma_buf) {
      d = obj.dma_buf;
      get_dma_buf(d);
    } else {
      // export_and_register_object(): the object keeps a reference to its export.
      if (obj.handle_count === 0) fail(Errno.ENOENT);
      d = drm_gem_prime_export(obj, flags);
      obj.dma_buf = d;
      get_dma_buf(d);
    }
    drm_prime_add_buf_handle(file_priv.prime, d, handle);
    return d;
  } finally {
    drm_gem_object_put(obj);
  }
}

/** `drm_prime_handle_to_fd_ioctl()`. */
export function drm_prime_handle_to_fd_ioctl(
  _dev: drm_device,
  data: DataView,
  file_priv: drm_file,
  current: Task,
): void {
  const P = drm_prime_handle;
  const flags = data.getUint32(P.flags, true);
  if (flags & ~(DRM_CLOEXEC | DRM_RDWR)) fail(Errno.EINVAL);
  // get_unused_fd_flags() comes first: a full fd table is EMFILE before anything else.
  if (current.files.count >= current.files.rlimit_nofile) fail(Errno.EMFILE);
  const d = drm_gem_prime_handle_to_dmabuf(file_priv, data.getUint32(P.handle, true), flags);
  let fd: number;
  try {
    fd = current.files.fd_install(d.file, (flags & O_CLOEXEC) !== 0);
  } catch (e) {
    dma_buf_put(d);
    throw e;
  }
  data.setInt32(P.fd, fd, true);
}
