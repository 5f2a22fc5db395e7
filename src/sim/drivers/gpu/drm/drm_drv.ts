/**
 * drivers/gpu/drm/drm_drv.c and drm_file.c in miniature: `struct drm_driver`, `struct
 * drm_device`, its minors (`/dev/dri/card<N>`, `/dev/dri/renderD<128+N>`), and the open file of
 * a minor (`struct drm_file`: its GEM handles and PRIME cache). The fops are `DEFINE_DRM_GEM_FOPS`:
 * `drm_open`, `drm_release`, `drm_ioctl`, `drm_gem_mmap`, `drm_poll` (nothing to read: 0).
 *
 * @module
 */
import type { file, inode } from "../../../file_table.ts";
import type { Task } from "../../../sched.ts";
import type { DriverContext } from "../../../driver_context.ts";
import type { device, dma_buf, dma_buf_attachment, sg_table } from "../../../dma_buf.ts";
import { nonseekable_open } from "../../../char_dev.ts";
import { drm_ioctl } from "./drm_ioctl.ts";
import { drm_gem_mmap, type drm_gem_object, drm_gem_release } from "./drm_gem.ts";

/** `DRIVER_GEM`. */
export const DRIVER_GEM = 0x1;
/** `DRIVER_MODESET`. */
export const DRIVER_MODESET = 0x2;
/** `DRIVER_RENDER`. */
export const DRIVER_RENDER = 0x8;

/** `DRM_AUTH`. */
export const DRM_AUTH = 0x1;
/** `DRM_MASTER`. */
export const DRM_MASTER = 0x2;
/** `DRM_ROOT_ONLY`. */
export const DRM_ROOT_ONLY = 0x4;
/** `DRM_RENDER_ALLOW`. */
export const DRM_RENDER_ALLOW = 0x20;

/** `drm_ioctl_t`: `data` is the kernel copy of the argument (zero-extended to the driver's size). */
export type drm_ioctl_t = (
  dev: drm_device,
  data: DataView,
  file_priv: drm_file,
  current: Task,
) => number | void;

/** `struct drm_ioctl_desc`. */
export interface drm_ioctl_desc {
  /** The request as the kernel defines it (its size is the driver's size). */
  readonly cmd: number;
  /** The handler. */
  readonly func: drm_ioctl_t;
  /** `DRM_AUTH | DRM_RENDER_ALLOW | …`. */
  readonly flags: number;
  /** For debug output. */
  readonly name: string;
}

/** `struct drm_mode_create_dumb` as the driver sees it. */
export interface drm_mode_create_dumb_args {
  height: number;
  width: number;
  bpp: number;
  flags: number;
  handle: number;
  pitch: number;
  size: number;
}

/** `struct drm_driver` (what the model uses). */
export interface drm_driver {
  /** `name`: what `DRM_IOCTL_VERSION` reports. */
  readonly name: string;
  /** `desc`. */
  readonly desc: string;
  /** `major`. */
  readonly major: number;
  /** `minor`. */
  readonly minor: number;
  /** `patchlevel`. */
  readonly patchlevel: number;
  /** `DRIVER_GEM | DRIVER_RENDER | …`. */
  readonly driver_features: number;
  /**
   * Driver ioctls by `nr - DRM_COMMAND_BASE` (`DRM_IOCTL_DEF_DRV` places each at its number;
   * a hole has no handler: `EINVAL`).
   */
  readonly ioctls: readonly (drm_ioctl_desc | undefined)[];
  /** `open`: per-file setup. */
  open?(dev: drm_device, file_priv: drm_file): void;
  /** `postclose`: per-file teardown, after the GEM handles are gone. */
  postclose?(dev: drm_device, file_priv: drm_file): void;
  /** `dumb_create`. */
  dumb_create?(file_priv: drm_file, dev: drm_device, args: drm_mode_create_dumb_args): void;
  /** `gem_prime_import_sg_table`. */
  gem_prime_import_sg_table?(
    dev: drm_device,
    attach: dma_buf_attachment,
    sgt: sg_table,
  ): drm_gem_object;
}

/** `drm_vma_offset_manager`: fake mmap offsets (in pages) of a device's GEM objects. */
export interface drm_vma_offset_manager {
  /** Offset node start (pages) → object. */
  readonly nodes: Map<number, drm_gem_object>;
}

/**
 * `DRM_FILE_PAGE_OFFSET_START` on 64-bit: `(0xFFFFFFFF >> PAGE_SHIFT) + 1` pages, so fake
 * offsets start at 4 GiB.
 */
export const DRM_FILE_PAGE_OFFSET_START = 0x100000;

/** `struct drm_device`. */
export class drm_device {
  /** The driver. */
  readonly driver: drm_driver;
  /** `dev->dev`: the parent device (vgem: the platform device `vgem`, 64-bit DMA mask). */
  readonly dev: device;
  /** The machine. */
  readonly machine: DriverContext;
  /** `vma_offset_manager`. */
  readonly vma_offset_manager: drm_vma_offset_manager = { nodes: new Map() };
  /** `primary->index`. */
  index = -1;

  /**
   * `drm_dev_alloc()`.
   *
   * @param machine The machine.
   * @param driver The driver.
   * @param parent The parent device.
   */
  constructor(machine: DriverContext, driver: drm_driver, parent: device) {
    this.machine = machine;
    this.driver = driver;
    this.dev = parent;
  }
}

/** `struct drm_minor`. */
export interface drm_minor {
  /** `index`: 0 for card0, 128 for renderD128. */
  readonly index: number;
  /** `DRM_MINOR_PRIMARY` or `DRM_MINOR_RENDER`. */
  readonly type: "primary" | "render";
  /** The device. */
  readonly dev: drm_device;
}

/** `struct drm_prime_file_private`: the dma-bufs this file imported or exported, by handle. */
export interface drm_prime_file_private {
  /** dma-buf → handle. */
  readonly dmabufs: Map<dma_buf, number>;
  /** handle → dma-buf. */
  readonly handles: Map<number, dma_buf>;
}

/** `struct drm_file`. */
export class drm_file {
  /** The minor it was opened through. */
  readonly minor: drm_minor;
  /** `object_idr`: handle → object. */
  readonly object_idr: Map<number, drm_gem_object> = new Map();
  /** `prime`. */
  readonly prime: drm_prime_file_private = { dmabufs: new Map(), handles: new Map() };
  /** `driver_priv`. */
  driver_priv: unknown = null;

  /**
   * `drm_file_alloc()`.
   *
   * @param minor The minor.
   */
  constructor(minor: drm_minor) {
    this.minor = minor;
  }
}

/** `drm_is_render_client(file_priv)`. */
export function drm_is_render_client(file_priv: drm_file): boolean {
  return file_priv.minor.type === "render";
}

/** `drm_core_check_feature(dev, feature)`. */
export function drm_core_check_feature(dev: drm_device, feature: number): boolean {
  return (dev.driver.driver_features & feature) !== 0;
}

function drm_open(minor: drm_minor, f: file): void {
  // drm_open_helper(): a drm_file per open, the driver's open, then the file is nonseekable.
  const file_priv = new drm_file(minor);
  minor.dev.driver.open?.(minor.dev, file_priv);
  f.private_data = file_priv;
  nonseekable_open(f);
}

function drm_release(_inode: inode, f: file): void {
  const file_priv = f.private_data as drm_file;
  const dev = file_priv.minor.dev;
  // drm_file_free(): GEM handles (and the PRIME cache) go first, then the driver's postclose.
  drm_gem_release(dev, file_priv);
  dev.driver.postclose?.(dev, file_priv);
}

/** Machines → their DRM devices, in registration order (primary minors 0, 1, …). */
const devices = new WeakMap<DriverContext, drm_device[]>();

/**
 * `drm_dev_register(dev, flags)`: the primary node `/dev/dri/card<N>` and, for
 * `DRIVER_RENDER`, the render node `/dev/dri/renderD<128+N>`.
 */
export function drm_dev_register(dev: drm_device): void {
  const m = dev.machine;
  const list = devices.get(m) ?? [];
  devices.set(m, list);
  dev.index = list.length;
  list.push(dev);
  const minors: drm_minor[] = [{ index: dev.index, type: "primary", dev }];
  if (drm_core_check_feature(dev, DRIVER_RENDER)) {
    minors.push({ index: 128 + dev.index, type: "render", dev });
  }
  for (const minor of minors) {
    const name = minor.type === "primary" ? `card${minor.index}` : `renderD${minor.index}`;
    m.dev.add(`dri/${name}`, {
      open: (_inode, f) => drm_open(minor, f),
      release: drm_release,
      unlocked_ioctl: (f, cmd, arg, current) => drm_ioctl(f, cmd, arg, current),
      mmap: drm_gem_mmap,
      poll: () => 0, // drm_poll(): no pending DRM events (vblank, flip) on these devices
    }, minor);
  }
  m.printk(
    `[drm] Initialized ${dev.driver.name} ${dev.driver.major}.${dev.driver.minor}.${dev.driver.patchlevel} for ${dev.dev.name} on minor ${dev.index}`,
  );
}
