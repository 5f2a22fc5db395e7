/**
 * drivers/gpu/drm/drm_ioctl.c: `drm_ioctl()` dispatch — `ENOTTY` for a type other than `'d'`,
 * `EINVAL` for a number with no handler; the argument is copied in with the caller's size
 * (`_IOC_SIZE(cmd)`) and zero-extended to the kernel's, and copied back out even when the handler
 * fails — `drm_ioctl_permit()` (render nodes only run `DRM_RENDER_ALLOW` ioctls: `EACCES`),
 * and the core ioctls the model has: `VERSION`, `GET_CAP`, `GEM_CLOSE`, the PRIME pair and the
 * dumb-buffer trio. Other core ioctls of Linux are `EINVAL` here (a documented gap).
 *
 * @module
 */
import { Errno, fail, KernelError } from "../../../errno.ts";
import type { file } from "../../../file_table.ts";
import type { Task } from "../../../sched.ts";
import { copy_from_user, copy_to_user } from "../../../uaccess.ts";
import { _IOC_SIZE, _IOC_TYPE, IOC_IN, IOC_OUT } from "../../../../uapi/ioctl.ts";
import {
  DRM_CAP_PRIME,
  DRM_CAP_TIMESTAMP_MONOTONIC,
  DRM_COMMAND_BASE,
  drm_get_cap,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_GET_CAP,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_DESTROY_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_IOCTL_VERSION,
  DRM_PRIME_CAP_EXPORT,
  DRM_PRIME_CAP_IMPORT,
  drm_version,
} from "../../../../uapi/drm.ts";
import {
  DRIVER_MODESET,
  drm_core_check_feature,
  type drm_device,
  type drm_file,
  type drm_ioctl_desc,
  drm_is_render_client,
  DRM_MASTER,
  DRM_RENDER_ALLOW,
  DRM_ROOT_ONLY,
} from "./drm_drv.ts";
import { drm_gem_close_ioctl } from "./drm_gem.ts";
import { drm_prime_fd_to_handle_ioctl, drm_prime_handle_to_fd_ioctl } from "./drm_prime.ts";
import {
  drm_mode_create_dumb_ioctl,
  drm_mode_destroy_dumb_ioctl,
  drm_mode_mmap_dumb_ioctl,
} from "./drm_dumb_buffers.ts";

/** `DRM_COMMAND_END`. */
const DRM_COMMAND_END = 0xa0;
/** `DRM_CORE_IOCTL_COUNT` of 6.12 (the last core ioctl is `MODE_CLOSEFB`, 0xD0). */
const DRM_CORE_IOCTL_COUNT = 0xd1;

/** `drm_copy_field()`: copies at most `*len` bytes (no NUL), then writes the full length. */
function drm_copy_field(
  current: Task,
  data: DataView,
  lenAt: number,
  ptrAt: number,
  value: string,
): void {
  const bytes = new TextEncoder().encode(value);
  const cap = Number(data.getBigUint64(lenAt, true));
  const len = Math.min(bytes.length, cap);
  data.setBigUint64(lenAt, BigInt(bytes.length), true);
  const buf = Number(data.getBigUint64(ptrAt, true));
  if (len && buf) copy_to_user(current, buf, bytes, len);
}

/** `drm_version()`. Driver dates are deprecated in 6.12: the date is always `"0"`. */
function drm_version_ioctl(dev: drm_device, data: DataView, _f: drm_file, current: Task): void {
  const V = drm_version;
  data.setInt32(V.version_major, dev.driver.major, true);
  data.setInt32(V.version_minor, dev.driver.minor, true);
  data.setInt32(V.version_patchlevel, dev.driver.patchlevel, true);
  drm_copy_field(current, data, V.name_len, V.name, dev.driver.name);
  drm_copy_field(current, data, V.date_len, V.date, "0");
  drm_copy_field(current, data, V.desc_len, V.desc, dev.driver.desc);
}

/** `drm_getcap()`: the render-only capabilities; the KMS ones need `DRIVER_MODESET`. */
function drm_getcap(dev: drm_device, data: DataView): void {
  const cap = data.getBigUint64(drm_get_cap.capability, true);
  data.setBigUint64(drm_get_cap.value, 0n, true);
  let value: number | undefined;
  switch (cap) {
    case BigInt(DRM_CAP_TIMESTAMP_MONOTONIC):
      value = 1;
      break;
    case BigInt(DRM_CAP_PRIME):
      value = DRM_PRIME_CAP_IMPORT | DRM_PRIME_CAP_EXPORT;
      break;
    case 0x13n: // DRM_CAP_SYNCOBJ
    case 0x14n: // DRM_CAP_SYNCOBJ_TIMELINE
      value = 0;
      break;
  }
  if (value !== undefined) {
    data.setBigUint64(drm_get_cap.value, BigInt(value), true);
    return;
  }
  if (!drm_core_check_feature(dev, DRIVER_MODESET)) fail(Errno.EOPNOTSUPP);
  fail(Errno.EINVAL); // the model has no KMS driver
}

function def(cmd: number, func: drm_ioctl_desc["func"], flags: number, name: string) {
  return [cmd & 0xff, { cmd, func, flags, name }] as const;
}

let table: Map<number, drm_ioctl_desc> | undefined;

/**
 * The core ioctl table (the entries the model has), made on first use: drm_drv.ts, which
 * defines the flags, imports this module.
 */
const drm_ioctls = () =>
  table ??= new Map<number, drm_ioctl_desc>([
    def(DRM_IOCTL_VERSION, drm_version_ioctl, DRM_RENDER_ALLOW, "DRM_IOCTL_VERSION"),
    def(DRM_IOCTL_GEM_CLOSE, drm_gem_close_ioctl, DRM_RENDER_ALLOW, "DRM_IOCTL_GEM_CLOSE"),
    def(DRM_IOCTL_GET_CAP, drm_getcap, DRM_RENDER_ALLOW, "DRM_IOCTL_GET_CAP"),
    def(
      DRM_IOCTL_PRIME_HANDLE_TO_FD,
      drm_prime_handle_to_fd_ioctl,
      DRM_RENDER_ALLOW,
      "DRM_IOCTL_PRIME_HANDLE_TO_FD",
    ),
    def(
      DRM_IOCTL_PRIME_FD_TO_HANDLE,
      drm_prime_fd_to_handle_ioctl,
      DRM_RENDER_ALLOW,
      "DRM_IOCTL_PRIME_FD_TO_HANDLE",
    ),
    def(DRM_IOCTL_MODE_CREATE_DUMB, drm_mode_create_dumb_ioctl, 0, "DRM_IOCTL_MODE_CREATE_DUMB"),
    def(DRM_IOCTL_MODE_MAP_DUMB, drm_mode_mmap_dumb_ioctl, 0, "DRM_IOCTL_MODE_MAP_DUMB"),
    def(DRM_IOCTL_MODE_DESTROY_DUMB, drm_mode_destroy_dumb_ioctl, 0, "DRM_IOCTL_MODE_DESTROY_DUMB"),
  ]);

/** `drm_ioctl_permit(flags, file_priv)`: only the checks that can fail for root. */
function drm_ioctl_permit(flags: number, file_priv: drm_file): void {
  void DRM_ROOT_ONLY; // every simulated process may act as root here
  if ((flags & DRM_MASTER) && drm_is_render_client(file_priv)) fail(Errno.EACCES);
  if (!(flags & DRM_RENDER_ALLOW) && drm_is_render_client(file_priv)) fail(Errno.EACCES);
}

/** `drm_ioctl(filp, cmd, arg)`. */
export function drm_ioctl(f: file, cmd: number, arg: number, current: Task): number {
  const file_priv = f.private_data as drm_file;
  const dev = file_priv.minor.dev;
  if (_IOC_TYPE(cmd) !== "d".charCodeAt(0)) fail(Errno.ENOTTY);
  const nr = cmd & 0xff;
  let ioctl: drm_ioctl_desc | undefined;
  if (nr >= DRM_COMMAND_BASE && nr < DRM_COMMAND_END) {
    ioctl = dev.driver.ioctls[nr - DRM_COMMAND_BASE];
  } else if (nr < DRM_CORE_IOCTL_COUNT) {
    ioctl = drm_ioctls().get(nr);
  }
  if (!ioctl) fail(Errno.EINVAL);
  const drv_size = _IOC_SIZE(ioctl.cmd);
  const in_size = (cmd & ioctl.cmd & IOC_IN) ? _IOC_SIZE(cmd) : 0;
  const out_size = (cmd & ioctl.cmd & IOC_OUT) ? _IOC_SIZE(cmd) : 0;
  const kdata = new Uint8Array(Math.max(in_size, out_size, drv_size));
  kdata.set(copy_from_user(current, arg, in_size));
  const data = new DataView(kdata.buffer);
  let ret = 0;
  let error: unknown;
  try {
    drm_ioctl_permit(ioctl.flags, file_priv);
    ret = ioctl.func(dev, data, file_priv, current) ?? 0;
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    error = e;
  }
  // The argument goes back to user space whatever the handler returned.
  try {
    copy_to_user(current, arg, kdata, out_size);
  } catch (e) {
    if (e instanceof KernelError) fail(Errno.EFAULT);
    throw e;
  }
  if (error) throw error;
  return ret;
}
