/**
 * drivers/gpu/drm/drm_dumb_buffers.c: `DRM_IOCTL_MODE_CREATE_DUMB` (core checks: a zero
 * dimension or a size that overflows 32 bits is `EINVAL`; the outputs are zeroed before the
 * driver's `dumb_create`; the request's `flags` are not checked), `MAP_DUMB` (`drm_gem_dumb_map_offset`:
 * `ENOENT` for no such handle, `EINVAL` for an imported object) and `DESTROY_DUMB` (a handle
 * delete: `EINVAL` for no such handle). `ENOSYS` when the driver has no dumb buffers.
 *
 * @module
 */
import { Errno, fail } from "../../../errno.ts";
import { PAGE_SIZE } from "../../../mm.ts";
import { drm_mode_create_dumb, drm_mode_map_dumb } from "../../../../uapi/drm.ts";
import type { drm_device, drm_file, drm_mode_create_dumb_args } from "./drm_drv.ts";
import {
  drm_gem_create_mmap_offset,
  drm_gem_handle_delete,
  drm_gem_is_imported,
  drm_gem_object_lookup,
  drm_gem_object_put,
} from "./drm_gem.ts";

const U32_MAX = 0xffff_ffff;

/** `drm_mode_create_dumb_ioctl()`. */
export function drm_mode_create_dumb_ioctl(dev: drm_device, data: DataView, file_priv: drm_file) {
  const D = drm_mode_create_dumb;
  if (!dev.driver.dumb_create) fail(Errno.ENOSYS);
  const args: drm_mode_create_dumb_args = {
    height: data.getUint32(D.height, true),
    width: data.getUint32(D.width, true),
    bpp: data.getUint32(D.bpp, true),
    flags: data.getUint32(D.flags, true),
    handle: 0,
    pitch: 0,
    size: 0,
  };
  if (!args.width || !args.height || !args.bpp) fail(Errno.EINVAL);
  // Overflow checks for 32-bit size calculations.
  if (args.bpp > U32_MAX - 8) fail(Errno.EINVAL);
  const cpp = Math.ceil(args.bpp / 8);
  if (cpp > Math.floor(U32_MAX / args.width)) fail(Errno.EINVAL);
  const stride = cpp * args.width;
  if (args.height > Math.floor(U32_MAX / stride)) fail(Errno.EINVAL);
  const size = args.height * stride;
  // PAGE_ALIGN(size) == 0: the u32 wrapped around.
  if (((Math.ceil(size / PAGE_SIZE) * PAGE_SIZE) >>> 0) === 0) fail(Errno.EINVAL);
  // handle, pitch and size are outputs: zeroed before the driver sees them.
  data.setUint32(D.handle, 0, true);
  data.setUint32(D.pitch, 0, true);
  data.setBigUint64(D.size_, 0n, true);
  dev.driver.dumb_create(file_priv, dev, args);
  data.setUint32(D.handle, args.handle, true);
  data.setUint32(D.pitch, args.pitch, true);
  data.setBigUint64(D.size_, BigInt(args.size), true);
}

/** `drm_mode_mmap_dumb_ioctl()` → `drm_gem_dumb_map_offset()`. */
export function drm_mode_mmap_dumb_ioctl(dev: drm_device, data: DataView, file_priv: drm_file) {
  if (!dev.driver.dumb_create) fail(Errno.ENOSYS);
  const obj = drm_gem_object_lookup(file_priv, data.getUint32(drm_mode_map_dumb.handle, true));
  if (!obj) fail(Errno.ENOENT);
  try {
    // Imported objects cannot be mapped through the device.
    if (drm_gem_is_imported(obj)) fail(Errno.EINVAL);
    const pages = drm_gem_create_mmap_offset(obj);
    data.setBigUint64(drm_mode_map_dumb.offset, BigInt(pages) * BigInt(PAGE_SIZE), true);
  } finally {
    drm_gem_object_put(obj);
  }
}

/** `drm_mode_destroy_dumb_ioctl()`. */
export function drm_mode_destroy_dumb_ioctl(dev: drm_device, data: DataView, file_priv: drm_file) {
  if (!dev.driver.dumb_create) fail(Errno.ENOSYS);
  drm_gem_handle_delete(file_priv, data.getUint32(0, true));
}
