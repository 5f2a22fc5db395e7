/**
 * `include/uapi/drm/drm.h`, `drm_mode.h` and `vgem_drm.h` (Linux 6.12): the DRM core ioctls the
 * library uses — version, capabilities, GEM close, PRIME import/export, dumb buffers — and vgem's
 * fence ioctls. Layouts are LP64 (x86_64 and arm64 agree).
 *
 * Dispatch (drivers/gpu/drm/drm_ioctl.c `drm_ioctl`): a type other than `'d'` is `ENOTTY`; an
 * unknown number is `EINVAL`; numbers from `DRM_COMMAND_BASE` (0x40) on belong to the driver, so
 * the same request means different things to different drivers.
 *
 * @module
 */
import { _IOW, _IOWR } from "./ioctl.ts";
import { O_CLOEXEC, O_RDWR } from "./constants.ts";

/** `DRM_IOCTL_BASE`. */
export const DRM_IOCTL_BASE = "d";
/** `DRM_COMMAND_BASE`: first driver-specific ioctl number. */
export const DRM_COMMAND_BASE = 0x40;
/** Where DRM device nodes appear. */
export const DRM_DIR = "/dev/dri";

/**
 * `struct drm_version` (64 bytes): `int version_major @0, version_minor @4,
 * version_patchlevel @8; size_t name_len @16; char *name @24; size_t date_len @32;
 * char *date @40; size_t desc_len @48; char *desc @56`. The lengths are in/out: the kernel
 * copies at most `*_len` bytes (no NUL) and writes back the full length.
 */
export const drm_version = {
  size: 64,
  version_major: 0,
  version_minor: 4,
  version_patchlevel: 8,
  name_len: 16,
  name: 24,
  date_len: 32,
  date: 40,
  desc_len: 48,
  desc: 56,
} as const;
/** `struct drm_get_cap { __u64 capability; __u64 value; }` (16 bytes). */
export const drm_get_cap = { size: 16, capability: 0, value: 8 } as const;
/** `struct drm_gem_close { __u32 handle; __u32 pad; }` (8 bytes). */
export const drm_gem_close = { size: 8, handle: 0, pad: 4 } as const;
/** `struct drm_prime_handle { __u32 handle; __u32 flags; __s32 fd; }` (12 bytes). */
export const drm_prime_handle = { size: 12, handle: 0, flags: 4, fd: 8 } as const;
/**
 * `struct drm_mode_create_dumb` (32 bytes): in `height @0, width @4, bpp @8, flags @12`; out
 * `handle @16, pitch @20, size @24` (`__u64`).
 */
export const drm_mode_create_dumb = {
  size: 32,
  height: 0,
  width: 4,
  bpp: 8,
  flags: 12,
  handle: 16,
  pitch: 20,
  size_: 24,
} as const;
/** `struct drm_mode_map_dumb { __u32 handle; __u32 pad; __u64 offset; }` (16 bytes). */
export const drm_mode_map_dumb = { size: 16, handle: 0, pad: 4, offset: 8 } as const;
/** `struct drm_mode_destroy_dumb { __u32 handle; }` (4 bytes). */
export const drm_mode_destroy_dumb = { size: 4, handle: 0 } as const;
/** `struct drm_vgem_fence_attach { __u32 handle, flags, out_fence, pad; }` (16 bytes). */
export const drm_vgem_fence_attach = {
  size: 16,
  handle: 0,
  flags: 4,
  out_fence: 8,
  pad: 12,
} as const;
/** `struct drm_vgem_fence_signal { __u32 fence; __u32 flags; }` (8 bytes). */
export const drm_vgem_fence_signal = { size: 8, fence: 0, flags: 4 } as const;

/** `DRM_IOCTL_VERSION = DRM_IOWR(0x00, struct drm_version)` = 0xC0406400. */
export const DRM_IOCTL_VERSION: number = _IOWR(DRM_IOCTL_BASE, 0x00, drm_version.size);
/** `DRM_IOCTL_GEM_CLOSE = DRM_IOW(0x09, struct drm_gem_close)` = 0x40086409. */
export const DRM_IOCTL_GEM_CLOSE: number = _IOW(DRM_IOCTL_BASE, 0x09, drm_gem_close.size);
/** `DRM_IOCTL_GET_CAP = DRM_IOWR(0x0c, struct drm_get_cap)` = 0xC010640C. */
export const DRM_IOCTL_GET_CAP: number = _IOWR(DRM_IOCTL_BASE, 0x0c, drm_get_cap.size);
/** `DRM_IOCTL_PRIME_HANDLE_TO_FD = DRM_IOWR(0x2d, struct drm_prime_handle)` = 0xC00C642D. */
export const DRM_IOCTL_PRIME_HANDLE_TO_FD: number = _IOWR(
  DRM_IOCTL_BASE,
  0x2d,
  drm_prime_handle.size,
);
/** `DRM_IOCTL_PRIME_FD_TO_HANDLE = DRM_IOWR(0x2e, struct drm_prime_handle)` = 0xC00C642E. */
export const DRM_IOCTL_PRIME_FD_TO_HANDLE: number = _IOWR(
  DRM_IOCTL_BASE,
  0x2e,
  drm_prime_handle.size,
);
/** `DRM_IOCTL_MODE_CREATE_DUMB = DRM_IOWR(0xB2, struct drm_mode_create_dumb)` = 0xC02064B2. */
export const DRM_IOCTL_MODE_CREATE_DUMB: number = _IOWR(
  DRM_IOCTL_BASE,
  0xb2,
  drm_mode_create_dumb.size,
);
/** `DRM_IOCTL_MODE_MAP_DUMB = DRM_IOWR(0xB3, struct drm_mode_map_dumb)` = 0xC01064B3. */
export const DRM_IOCTL_MODE_MAP_DUMB: number = _IOWR(
  DRM_IOCTL_BASE,
  0xb3,
  drm_mode_map_dumb.size,
);
/** `DRM_IOCTL_MODE_DESTROY_DUMB = DRM_IOWR(0xB4, struct drm_mode_destroy_dumb)` = 0xC00464B4. */
export const DRM_IOCTL_MODE_DESTROY_DUMB: number = _IOWR(
  DRM_IOCTL_BASE,
  0xb4,
  drm_mode_destroy_dumb.size,
);

/** `DRM_VGEM_FENCE_ATTACH`: vgem's ioctl 1 (request number 0x41). */
export const DRM_VGEM_FENCE_ATTACH = 0x1;
/** `DRM_VGEM_FENCE_SIGNAL`: vgem's ioctl 2 (request number 0x42). */
export const DRM_VGEM_FENCE_SIGNAL = 0x2;
/** `DRM_IOCTL_VGEM_FENCE_ATTACH` = 0xC0106441. Only for vgem: other drivers mean something else. */
export const DRM_IOCTL_VGEM_FENCE_ATTACH: number = _IOWR(
  DRM_IOCTL_BASE,
  DRM_COMMAND_BASE + DRM_VGEM_FENCE_ATTACH,
  drm_vgem_fence_attach.size,
);
/** `DRM_IOCTL_VGEM_FENCE_SIGNAL` = 0x40086442. Only for vgem. */
export const DRM_IOCTL_VGEM_FENCE_SIGNAL: number = _IOW(
  DRM_IOCTL_BASE,
  DRM_COMMAND_BASE + DRM_VGEM_FENCE_SIGNAL,
  drm_vgem_fence_signal.size,
);
/** `VGEM_FENCE_WRITE`: the fence is a writer (`DMA_RESV_USAGE_WRITE`), else a reader. */
export const VGEM_FENCE_WRITE = 0x1;
/** `VGEM_FENCE_TIMEOUT` in ms (`10*HZ`): an unsignalled vgem fence signals itself then. */
export const VGEM_FENCE_TIMEOUT_MS = 10_000;

/** `DRM_CLOEXEC` (= `O_CLOEXEC`): flag of `PRIME_HANDLE_TO_FD`. */
export const DRM_CLOEXEC: number = O_CLOEXEC;
/** `DRM_RDWR` (= `O_RDWR`): the exported dma-buf is writable (mmap with PROT_WRITE). */
export const DRM_RDWR: number = O_RDWR;

/** `DRM_CAP_DUMB_BUFFER` (KMS drivers only: others answer `EOPNOTSUPP`). */
export const DRM_CAP_DUMB_BUFFER = 0x1;
/** `DRM_CAP_PRIME`: a bit set of `DRM_PRIME_CAP_*`. */
export const DRM_CAP_PRIME = 0x5;
/** `DRM_CAP_TIMESTAMP_MONOTONIC`. */
export const DRM_CAP_TIMESTAMP_MONOTONIC = 0x6;
/** `DRM_PRIME_CAP_IMPORT`. */
export const DRM_PRIME_CAP_IMPORT = 0x1;
/** `DRM_PRIME_CAP_EXPORT`. */
export const DRM_PRIME_CAP_EXPORT = 0x2;
