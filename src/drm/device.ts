/**
 * A DRM device node (`/dev/dri/card*`) and the GEM objects of one open file of it: PRIME import
 * and export of dma-bufs, dumb buffers, and — on vgem — fences on a buffer's reservation object.
 *
 * Behaviour follows drivers/gpu/drm/ (6.12): `drm_ioctl.c` (dispatch, `DRM_IOCTL_VERSION`,
 * `GET_CAP`), `drm_gem.c` (handles, `GEM_CLOSE`), `drm_prime.c` (`PRIME_FD_TO_HANDLE`,
 * `PRIME_HANDLE_TO_FD`), `drm_dumb_buffers.c`, and `vgem/vgem_fence.c`.
 *
 * @module
 */
import type { Kernel, MappedRegion, UserBuffer } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import { type ErrnoError, errnoError } from "../errors.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import { MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE } from "../uapi/constants.ts";
import {
  DRM_CLOEXEC,
  DRM_DIR,
  drm_gem_close,
  drm_get_cap,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_GET_CAP,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_DESTROY_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_IOCTL_VERSION,
  DRM_IOCTL_VGEM_FENCE_ATTACH,
  DRM_IOCTL_VGEM_FENCE_SIGNAL,
  drm_mode_create_dumb,
  drm_mode_map_dumb,
  drm_prime_handle,
  DRM_RDWR,
  drm_version,
  drm_vgem_fence_attach,
  drm_vgem_fence_signal,
  VGEM_FENCE_WRITE,
} from "../uapi/drm.ts";
import { adoptDmaBuf, DmaBuf } from "../dmabuf/buffer.ts";
import type { FenceAccess } from "../dmabuf/fence.ts";

/** What `DRM_IOCTL_VERSION` reports about the driver behind a node. */
export interface DrmVersion {
  /** The driver's name, e.g. `"vgem"`, `"i915"`. */
  readonly name: string;
  /** `version_major`. */
  readonly major: number;
  /** `version_minor`. */
  readonly minor: number;
  /** `version_patchlevel`. */
  readonly patchlevel: number;
  /** The driver date (6.12 reports `"0"`: deprecated). */
  readonly date: string;
  /** The description, e.g. `"Virtual GEM provider"`. */
  readonly desc: string;
}

/** Options for {@linkcode openDrmDevice}. */
export interface OpenDrmOptions {
  /** A node to open, e.g. `"/dev/dri/card0"`. Default: search `/dev/dri/card*`. */
  path?: string;
  /** Only a device whose driver has this name (`DRM_IOCTL_VERSION`), e.g. `"vgem"`. */
  driver?: string;
  /** The kernel; default: the kernel in use. */
  kernel?: Kernel;
}

/** One DRM node found by {@linkcode listDrmDevices}. */
export interface DrmDeviceInfo {
  /** The node, e.g. `"/dev/dri/card0"`. */
  readonly path: string;
  /** The driver's version, when the node opened. */
  readonly version?: DrmVersion;
  /** Why the node did not open (`"EACCES"`, …). */
  readonly error?: string;
}

/** Geometry of a dumb buffer for {@linkcode DrmDevice.createDumb}. */
export interface DumbBufferOptions {
  /** Width in pixels, > 0. */
  width: number;
  /** Height in pixels, > 0. */
  height: number;
  /** Bits per pixel, > 0 (32 for XRGB8888). */
  bpp: number;
}

/** Options for {@linkcode GemObject.exportDmaBuf}. */
export interface ExportOptions {
  /** Export read-only (`O_RDONLY`: the buffer cannot be mapped writable). Default false. */
  readOnly?: boolean;
}

const OPEN_HINT = "DRM nodes are usually root:video 0660; run as root or add the user to the " +
  "video group (render nodes: the render group)";
const NO_DRM_HINT = "This kernel has no DRM device; the virtual GEM driver makes one: " +
  "`modprobe vgem`";

function u32(v: unknown, what: string, syscall: string, path: string, min = 0): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > 0xffff_ffff) {
    throw errnoError(Errno.EINVAL, syscall, {
      path,
      detail: `${what} must be an integer in [${min}, 2^32), got ${String(v)}`,
    });
  }
  return v;
}

function cardNumber(name: string): number {
  return Number(/^card(\d+)$/.exec(name)?.[1] ?? NaN);
}

/**
 * Lists `/dev/dri/card*` nodes and the driver behind each one (`DRM_IOCTL_VERSION`).
 *
 * @param options The kernel.
 * @returns The nodes in card order; a node that would not open carries its errno name.
 * @throws {Deno.errors.NotFound} `ENOENT` when `/dev/dri` does not exist.
 *
 * @example Finding the DRM drivers of a machine
 * ```ts
 * import { listDrmDevices } from "./device.ts";
 * import { createSimMachine } from "../sim/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const kernel = createSimMachine().process();
 * const [card] = listDrmDevices({ kernel });
 * assert.equal(card.path, "/dev/dri/card0");
 * assert.equal(card.version?.name, "vgem");
 * ```
 */
export function listDrmDevices(options: { kernel?: Kernel } = {}): DrmDeviceInfo[] {
  const kernel = kernelOption(options.kernel, "listDrmDevices");
  let names: string[];
  try {
    names = kernel.readDir(DRM_DIR);
  } catch (e) {
    const err = e as ErrnoError;
    if (err.errno === Errno.ENOENT) {
      throw errnoError(Errno.ENOENT, err.syscall, { path: DRM_DIR, hint: NO_DRM_HINT, cause: e });
    }
    throw e;
  }
  const cards = names.filter((n) => !Number.isNaN(cardNumber(n)))
    .sort((a, b) => cardNumber(a) - cardNumber(b));
  return cards.map((n) => {
    const path = `${DRM_DIR}/${n}`;
    let fd: number;
    try {
      fd = kernel.open(path, O_RDWR | O_CLOEXEC);
    } catch (e) {
      return { path, error: (e as ErrnoError).code ?? String(e) };
    }
    try {
      return { path, version: queryVersion(kernel, fd, path) };
    } catch (e) {
      return { path, error: (e as ErrnoError).code ?? String(e) };
    } finally {
      kernel.close(fd);
    }
  });
}

/** `DRM_IOCTL_VERSION`, growing the string buffers when the kernel says they were short. */
function queryVersion(kernel: Kernel, fd: number, path: string): DrmVersion {
  const V = drm_version;
  const arg = kernel.userBuffer(V.size);
  let cap = 64;
  for (;;) {
    const strings = [kernel.userBuffer(cap), kernel.userBuffer(cap), kernel.userBuffer(cap)];
    const fields = [[V.name_len, V.name], [V.date_len, V.date], [V.desc_len, V.desc]] as const;
    arg.bytes.fill(0);
    fields.forEach(([len, ptr], i) => {
      arg.view.setBigUint64(len, BigInt(cap), true);
      arg.view.setBigUint64(ptr, BigInt(strings[i].address), true);
    });
    drmIoctl(kernel, fd, path, DRM_IOCTL_VERSION, arg, "DRM_IOCTL_VERSION");
    const lengths = fields.map(([len]) => Number(arg.view.getBigUint64(len, true)));
    if (lengths.every((n) => n <= cap)) {
      const text = (i: number) =>
        new TextDecoder().decode(strings[i].bytes.subarray(0, lengths[i]));
      return {
        name: text(0),
        major: arg.view.getInt32(V.version_major, true),
        minor: arg.view.getInt32(V.version_minor, true),
        patchlevel: arg.view.getInt32(V.version_patchlevel, true),
        date: text(1),
        desc: text(2),
      };
    }
    cap = Math.max(...lengths);
  }
}

/** Hints for errnos a DRM ioctl is known to return, by request name. */
const HINTS: Record<string, Partial<Record<string, string>>> = {
  DRM_IOCTL_PRIME_FD_TO_HANDLE: {
    EBADF: "The dma-buf fd is not open",
    EINVAL: "The fd is not a dma-buf",
  },
  DRM_IOCTL_PRIME_HANDLE_TO_FD: {
    ENOENT: "No GEM object has this handle on this open file of the device",
  },
  DRM_IOCTL_GEM_CLOSE: { EINVAL: "No GEM object has this handle on this open file" },
  DRM_IOCTL_MODE_DESTROY_DUMB: { EINVAL: "No GEM object has this handle on this open file" },
  DRM_IOCTL_MODE_CREATE_DUMB: {
    EINVAL: "width, height and bpp must be > 0 and the size must fit in 32 bits",
    EACCES: "Dumb buffers need the primary node (/dev/dri/cardN); render nodes refuse them",
    ENOSYS: "This driver has no dumb buffers",
  },
  DRM_IOCTL_MODE_MAP_DUMB: {
    ENOENT: "No GEM object has this handle on this open file",
    EINVAL: "An imported object cannot be mapped through its DRM device: map the DmaBuf",
  },
  DRM_IOCTL_VGEM_FENCE_ATTACH: {
    ENOENT: "No GEM object has this handle on this open file",
    EBUSY: "A conflicting fence is pending (a write fence needs every fence signalled, a read " +
      "fence the write fences): wait for the buffer first",
  },
  DRM_IOCTL_VGEM_FENCE_SIGNAL: {
    ENOENT: "No such fence, or it was signalled already",
    ETIMEDOUT: "The fence expired: vgem signals a fence itself 10 s after attaching it " +
      "(VGEM_FENCE_TIMEOUT); it has signalled now",
  },
};

/** One ioctl on a DRM fd; errors carry the node's path and a hint where one is known. */
function drmIoctl(
  kernel: Kernel,
  fd: number,
  path: string,
  request: number,
  arg: UserBuffer,
  name: string,
): number {
  try {
    return kernel.ioctl(fd, request, arg, name);
  } catch (e) {
    const err = e as ErrnoError;
    if (typeof err?.errno !== "number") throw e;
    throw errnoError(err.errno, err.syscall, {
      path,
      hint: HINTS[name]?.[err.code] ??
        (err.code === "ENOTTY" ? `${path} is not a DRM device` : undefined),
      cause: e,
    });
  }
}

/**
 * Opens a DRM device: the node given, or the first `/dev/dri/card*` (whose driver is
 * `options.driver`, when given).
 *
 * @param options Path, driver name and kernel.
 * @returns The open device.
 * @throws {Deno.errors.NotFound} `ENOENT` when no such node or no device of that driver exists
 *   (the message lists the drivers found).
 * @throws {Deno.errors.PermissionDenied} `EACCES` when the node is not open to this user.
 * @throws {ErrnoError} `ENOTTY` when the node is not a DRM device.
 *
 * @example Sharing a heap buffer with vgem
 * ```ts
 * import { openDrmDevice } from "./device.ts";
 * import { openHeap } from "../heaps/heap.ts";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using card = openDrmDevice({ driver: "vgem" });
 * using buf = heap.allocate(65536);
 * using gem = card.importDmaBuf(buf);
 * assert.ok(gem.handle > 0);
 * using back = gem.exportDmaBuf();
 * assert.equal(back.info().inode, buf.info().inode); // the same buffer
 * ```
 */
export function openDrmDevice(options: OpenDrmOptions = {}): DrmDevice {
  const kernel = kernelOption(options.kernel, "openDrmDevice");
  if (options.path !== undefined) {
    let fd: number;
    try {
      fd = kernel.open(options.path, O_RDWR | O_CLOEXEC);
    } catch (e) {
      const err = e as ErrnoError;
      if (err.code !== "EACCES" && err.code !== "EPERM") throw e;
      throw errnoError(err.errno, err.syscall, { path: options.path, hint: OPEN_HINT, cause: e });
    }
    try {
      const version = queryVersion(kernel, fd, options.path);
      if (options.driver !== undefined && version.name !== options.driver) {
        throw errnoError(Errno.ENOENT, "openDrmDevice", {
          path: options.path,
          detail: `its driver is ${version.name}, not ${options.driver}`,
        });
      }
      return new DrmDevice(kernel, fd, options.path, version);
    } catch (e) {
      kernel.close(fd);
      throw e;
    }
  }
  const found = listDrmDevices({ kernel });
  const pick = found.find((d) =>
    d.version && (options.driver === undefined || d.version.name === options.driver)
  );
  if (!pick) {
    const seen = found.map((d) => `${d.path}: ${d.version?.name ?? d.error}`).join(", ");
    const denied = found.some((d) => d.error === "EACCES" || d.error === "EPERM");
    throw errnoError(Errno.ENOENT, "openDrmDevice", {
      path: DRM_DIR,
      detail: `no DRM device${options.driver ? ` of driver ${options.driver}` : ""} opens` +
        (seen ? ` (found ${seen})` : " (no card nodes)"),
      hint: denied ? OPEN_HINT : options.driver === "vgem" || !seen ? NO_DRM_HINT : undefined,
    });
  }
  return openDrmDevice({ path: pick.path, kernel });
}

/**
 * An open DRM device node. GEM handles belong to this open file: closing it frees every handle
 * (buffers exported from them stay valid) and signals every vgem fence still pending.
 */
export class DrmDevice extends FdResource {
  /** The node, e.g. `"/dev/dri/card0"`. */
  readonly path: string;
  /** What the driver reported when the node was opened. */
  readonly version: DrmVersion;
  readonly #objects = new Map<number, GemObject>();
  readonly #mappings = new Set<DrmMapping>();
  #arg: UserBuffer;

  /**
   * Use {@linkcode openDrmDevice}.
   *
   * @param kernel The kernel.
   * @param fd The open node, now owned by this object.
   * @param path The node's path.
   * @param version The driver's version.
   */
  constructor(kernel: Kernel, fd: number, path: string, version: DrmVersion) {
    super(kernel, fd, "DrmDevice");
    this.path = path;
    this.version = version;
    this.#arg = kernel.userBuffer(32);
  }

  /** The driver's name, e.g. `"vgem"`. */
  get driver(): string {
    return this.version.name;
  }

  /** @internal One ioctl with the shared 32-byte argument, zeroed first. */
  _ioctl(request: number, name: string, fill: (v: DataView) => void): DataView {
    this.checkOpen(name);
    this.#arg.bytes.fill(0);
    fill(this.#arg.view);
    drmIoctl(this.kernel, this.fd, this.path, request, this.#arg, name);
    return this.#arg.view;
  }

  /**
   * `DRM_IOCTL_GET_CAP`: a capability's value.
   *
   * @param capability `DRM_CAP_PRIME`, `DRM_CAP_DUMB_BUFFER`, … (`src/uapi/drm.ts`).
   * @returns The value (`DRM_CAP_PRIME`: `DRM_PRIME_CAP_IMPORT | DRM_PRIME_CAP_EXPORT`).
   * @throws {ErrnoError} `EOPNOTSUPP` for a KMS capability of a driver without KMS (vgem),
   *   `EINVAL` for an unknown one.
   */
  getCap(capability: number): number {
    const name = "DRM_IOCTL_GET_CAP";
    u32(capability, "capability", `ioctl(${name})`, this.path);
    const v = this._ioctl(DRM_IOCTL_GET_CAP, name, (v) => {
      v.setBigUint64(drm_get_cap.capability, BigInt(capability), true);
    });
    return Number(v.getBigUint64(drm_get_cap.value, true));
  }

  /**
   * Imports a dma-buf into this device (`DRM_IOCTL_PRIME_FD_TO_HANDLE`). The device holds a
   * reference to the buffer (attached and mapped for the device) until the handle is closed.
   * Importing the same buffer again on this open file gives the same object, as the kernel gives
   * the same handle.
   *
   * @param buf The buffer (any exporter: a heap, udmabuf, another driver).
   * @returns The GEM object; `close()` it (or `using`) to drop the handle.
   * @throws {ErrnoError} `EBADF` when the buffer's fd is closed, `EINVAL` when it is not a
   *   dma-buf, `EXDEV` when the buffer belongs to another kernel (a simulated one).
   */
  importDmaBuf(buf: DmaBuf): GemObject {
    const name = "DRM_IOCTL_PRIME_FD_TO_HANDLE";
    if (!(buf instanceof DmaBuf)) {
      throw errnoError(Errno.EINVAL, `ioctl(${name})`, { path: this.path, detail: "Not a DmaBuf" });
    }
    if (buf.kernel !== this.kernel) {
      throw errnoError(Errno.EXDEV, `ioctl(${name})`, {
        path: this.path,
        detail: "The buffer's fd belongs to another kernel than this device's",
      });
    }
    const fd = buf.fd;
    const v = this._ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE, name, (v) => {
      v.setInt32(drm_prime_handle.fd, fd, true);
    });
    const handle = v.getUint32(drm_prime_handle.handle, true);
    const known = this.#objects.get(handle);
    if (known) return known;
    const obj = new GemObject(kGem, this, handle, buf.size);
    this.#objects.set(handle, obj);
    return obj;
  }

  /**
   * Creates a dumb buffer (`DRM_IOCTL_MODE_CREATE_DUMB`): zeroed memory of the driver's, pitch
   * and size chosen by the driver (vgem: pitch = ⌈width·bpp/8⌉, size = pitch·height rounded up
   * to pages).
   *
   * @param options Width, height and bits per pixel.
   * @returns The buffer; `close()` it (or `using`) to destroy it.
   * @throws {ErrnoError} `EINVAL` for a zero dimension or a size past 32 bits; `EACCES` on a
   *   render node; `ENOSYS` when the driver has no dumb buffers.
   */
  createDumb(options: DumbBufferOptions): DumbBuffer {
    const name = "DRM_IOCTL_MODE_CREATE_DUMB";
    const syscall = `ioctl(${name})`;
    const width = u32(options?.width, "width", syscall, this.path);
    const height = u32(options?.height, "height", syscall, this.path);
    const bpp = u32(options?.bpp, "bpp", syscall, this.path);
    const D = drm_mode_create_dumb;
    const v = this._ioctl(DRM_IOCTL_MODE_CREATE_DUMB, name, (v) => {
      v.setUint32(D.width, width, true);
      v.setUint32(D.height, height, true);
      v.setUint32(D.bpp, bpp, true);
    });
    const handle = v.getUint32(D.handle, true);
    const pitch = v.getUint32(D.pitch, true);
    const size = Number(v.getBigUint64(D.size_, true));
    const obj = new DumbBuffer(kGem, this, handle, size, { width, height, bpp, pitch });
    this.#objects.set(handle, obj);
    return obj;
  }

  /** @internal Forgets a closed object. */
  _forget(obj: GemObject): void {
    if (this.#objects.get(obj.handle) === obj) this.#objects.delete(obj.handle);
  }

  /** @internal Maps `length` bytes of the device at a fake offset (`MAP_DUMB`). */
  _map(offset: number, length: number): DrmMapping {
    this.checkOpen("map");
    const region = this.kernel.mmap(this.fd, length, PROT_READ | PROT_WRITE, MAP_SHARED, offset);
    const m = new DrmMapping(kGem, this.kernel, region, (x) => this.#mappings.delete(x));
    this.#mappings.add(m);
    return m;
  }

  /**
   * Unmaps every dumb-buffer mapping made through this device, then closes the node. The kernel
   * frees the file's GEM handles and signals its pending vgem fences. Idempotent.
   */
  override close(): void {
    if (this.closed) return;
    for (const m of [...this.#mappings]) {
      try {
        m.unmap();
      } catch {
        // Keep going: the fd must still be closed.
      }
    }
    for (const obj of this.#objects.values()) obj._orphan();
    this.#objects.clear();
    super.close();
  }
}

const kGem = Symbol("gem");

/**
 * A GEM object handle on one open file of a DRM device: an imported dma-buf or a buffer of the
 * driver's. `close()` drops the handle (`DRM_IOCTL_GEM_CLOSE`); a dma-buf exported from it stays
 * valid.
 */
export class GemObject {
  readonly #device: DrmDevice;
  readonly #handle: number;
  #closed = false;
  /** Size in bytes (a multiple of the page size). */
  readonly size: number;

  /**
   * Internal: made by {@linkcode DrmDevice.importDmaBuf} and {@linkcode DrmDevice.createDumb}.
   *
   * @param token Internal token.
   * @param device The device.
   * @param handle The GEM handle.
   * @param size The size in bytes.
   */
  constructor(token: symbol, device: DrmDevice, handle: number, size: number) {
    if (token !== kGem) throw new TypeError("Use DrmDevice.importDmaBuf() or createDumb()");
    this.#device = device;
    this.#handle = handle;
    this.size = size;
  }

  /** The GEM handle (> 0), valid on {@linkcode device}'s open file only. */
  get handle(): number {
    return this.#handle;
  }

  /** The device the handle belongs to. */
  get device(): DrmDevice {
    return this.#device;
  }

  /** True once closed (or once the device was closed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal Guard for methods. */
  protected guard(action: string): void {
    if (this.#closed) {
      throw errnoError(Errno.EBADF, action, {
        path: this.#device.path,
        detail: `Cannot ${action} a closed GEM object (handle ${this.#handle})`,
      });
    }
  }

  /**
   * Exports the object as a dma-buf (`DRM_IOCTL_PRIME_HANDLE_TO_FD` with `DRM_CLOEXEC` and,
   * unless `readOnly`, `DRM_RDWR`). An imported object gives back the buffer it came from; a
   * driver buffer is exported once and the same dma-buf is returned on later exports (a new fd
   * each time).
   *
   * @param options `readOnly`.
   * @returns The buffer (owns its new fd): map it and sync it like any other.
   * @throws {ErrnoError} `ENOENT` when the handle is gone.
   */
  exportDmaBuf(options: ExportOptions = {}): DmaBuf {
    const name = "DRM_IOCTL_PRIME_HANDLE_TO_FD";
    this.guard("export");
    const flags = DRM_CLOEXEC | (options.readOnly ? 0 : DRM_RDWR);
    const v = this.#device._ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD, name, (v) => {
      v.setUint32(drm_prime_handle.handle, this.#handle, true);
      v.setUint32(drm_prime_handle.flags, flags, true);
      v.setInt32(drm_prime_handle.fd, -1, true);
    });
    const fd = v.getInt32(drm_prime_handle.fd, true);
    return adoptDmaBuf(this.#device.kernel, fd, this.size);
  }

  /**
   * vgem only: puts a new fence of the vgem driver on the buffer's reservation object
   * (`DRM_IOCTL_VGEM_FENCE_ATTACH`), as a writer (`"write"`: readers and writers of the dma-buf
   * wait for it) or a reader (`"read"`: writers wait). It stays unsignalled until
   * {@linkcode VgemFence.signal} — or for at most 10 s, when vgem signals it itself.
   *
   * @param access `"write"` (default) or `"read"`.
   * @returns The fence.
   * @throws {ErrnoError} `EBUSY` when a conflicting fence is pending; `ENOTTY` when the device is
   *   not vgem (its driver ioctl 0x41 would mean something else).
   */
  attachFence(access: FenceAccess = "write"): VgemFence {
    const name = "DRM_IOCTL_VGEM_FENCE_ATTACH";
    this.guard("attach a fence to");
    if (access !== "read" && access !== "write") {
      throw errnoError(Errno.EINVAL, `ioctl(${name})`, {
        path: this.#device.path,
        detail: `access must be "read" or "write", got ${String(access)}`,
      });
    }
    requireVgem(this.#device, name);
    const A = drm_vgem_fence_attach;
    const v = this.#device._ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH, name, (v) => {
      v.setUint32(A.handle, this.#handle, true);
      v.setUint32(A.flags, access === "write" ? VGEM_FENCE_WRITE : 0, true);
    });
    return new VgemFence(kGem, this.#device, v.getUint32(A.out_fence, true), access);
  }

  /** @internal The device closed: the kernel dropped the handle. */
  _orphan(): void {
    this.#closed = true;
  }

  /** @internal The close ioctl of this kind of object. */
  protected closeIoctl(): void {
    this.#device._ioctl(DRM_IOCTL_GEM_CLOSE, "DRM_IOCTL_GEM_CLOSE", (v) => {
      v.setUint32(drm_gem_close.handle, this.#handle, true);
    });
  }

  /**
   * Drops the handle. Idempotent; nothing to do once the device is closed.
   *
   * @throws {ErrnoError} `EINVAL` if the kernel no longer knows the handle.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#device._forget(this);
    if (this.#device.closed) return;
    this.closeIoctl();
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function requireVgem(device: DrmDevice, name: string): void {
  if (device.driver !== "vgem") {
    throw errnoError(Errno.ENOTTY, `ioctl(${name})`, {
      path: device.path,
      detail: `the driver is ${device.driver}, not vgem: its driver ioctls mean something else`,
    });
  }
}

/** A dumb buffer: a GEM object of the driver's own memory, with a pitch. */
export class DumbBuffer extends GemObject {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** Bits per pixel. */
  readonly bpp: number;
  /** Bytes per row, as the driver chose. */
  readonly pitch: number;

  /**
   * Internal: made by {@linkcode DrmDevice.createDumb}.
   *
   * @param token Internal token.
   * @param device The device.
   * @param handle The handle.
   * @param size The size.
   * @param geometry Width, height, bpp and pitch.
   */
  constructor(
    token: symbol,
    device: DrmDevice,
    handle: number,
    size: number,
    geometry: { width: number; height: number; bpp: number; pitch: number },
  ) {
    super(token, device, handle, size);
    this.width = geometry.width;
    this.height = geometry.height;
    this.bpp = geometry.bpp;
    this.pitch = geometry.pitch;
  }

  /**
   * The fake offset to `mmap` the device fd at (`DRM_IOCTL_MODE_MAP_DUMB`); the same on every
   * call.
   *
   * @returns The offset (a multiple of the page size, ≥ 2^32 on 64-bit kernels).
   */
  mapOffset(): number {
    const name = "DRM_IOCTL_MODE_MAP_DUMB";
    this.guard("map");
    const v = this.device._ioctl(DRM_IOCTL_MODE_MAP_DUMB, name, (v) => {
      v.setUint32(drm_mode_map_dumb.handle, this.handle, true);
    });
    return Number(v.getBigUint64(drm_mode_map_dumb.offset, true));
  }

  /**
   * Maps the whole buffer through the device (`MAP_DUMB` + `mmap(MAP_SHARED)` of the device fd).
   * vgem's memory is write-combined and has no cache-maintenance ioctl on this path: to bracket
   * CPU access with `DMA_BUF_IOCTL_SYNC`, export the buffer and map the DmaBuf instead.
   *
   * @returns The mapping; `unmap()` it (or `using`). Closing the device unmaps it too.
   */
  map(): DrmMapping {
    return this.device._map(this.mapOffset(), this.size);
  }

  /** `DRM_IOCTL_MODE_DESTROY_DUMB`. */
  protected override closeIoctl(): void {
    this.device._ioctl(DRM_IOCTL_MODE_DESTROY_DUMB, "DRM_IOCTL_MODE_DESTROY_DUMB", (v) => {
      v.setUint32(0, this.handle, true);
    });
  }
}

/** A mapping of a dumb buffer made through its DRM device. */
export class DrmMapping {
  readonly #kernel: Kernel;
  readonly #region: MappedRegion;
  readonly #onUnmap: (m: DrmMapping) => void;
  #unmapped = false;

  /**
   * Internal: made by {@linkcode DumbBuffer.map}.
   *
   * @param token Internal token.
   * @param kernel The kernel.
   * @param region The mapped region.
   * @param onUnmap Called once unmapped.
   */
  constructor(
    token: symbol,
    kernel: Kernel,
    region: MappedRegion,
    onUnmap: (m: DrmMapping) => void,
  ) {
    if (token !== kGem) throw new TypeError("Use DumbBuffer.map()");
    this.#kernel = kernel;
    this.#region = region;
    this.#onUnmap = onUnmap;
  }

  /** The mapped length in bytes. */
  get length(): number {
    return this.#unmapped ? 0 : this.#region.length;
  }

  /**
   * The bytes: a fresh view on every read (do not keep it across calls that may unmap); empty
   * once unmapped.
   */
  get bytes(): Uint8Array {
    if (this.#unmapped) return new Uint8Array(0);
    const r = this.#region;
    return new Uint8Array(r.buffer, r.byteOffset, r.length);
  }

  /** Unmaps; every view handed out becomes empty. Idempotent. */
  unmap(): void {
    if (this.#unmapped) return;
    this.#unmapped = true;
    this.#onUnmap(this);
    this.#kernel.munmap(this.#region);
  }

  /** Same as {@linkcode unmap}. */
  [Symbol.dispose](): void {
    this.unmap();
  }
}

/**
 * A vgem fence on a buffer's reservation object (`DRM_IOCTL_VGEM_FENCE_ATTACH`). Until it is
 * signalled, `DmaBuf.wait()`, `poll` on the dma-buf and sync files exported from it wait for it.
 */
export class VgemFence {
  readonly #device: DrmDevice;
  /** The fence's id on the device file (`out_fence`). */
  readonly id: number;
  /** Whether it was attached as a writer or a reader. */
  readonly access: FenceAccess;
  #signalled = false;

  /**
   * Internal: made by {@linkcode GemObject.attachFence}.
   *
   * @param token Internal token.
   * @param device The device.
   * @param id The fence id.
   * @param access Its usage.
   */
  constructor(token: symbol, device: DrmDevice, id: number, access: FenceAccess) {
    if (token !== kGem) throw new TypeError("Use GemObject.attachFence()");
    this.#device = device;
    this.id = id;
    this.access = access;
  }

  /** True once {@linkcode signal} was called on this object. */
  get signalled(): boolean {
    return this.#signalled;
  }

  /**
   * Signals the fence (`DRM_IOCTL_VGEM_FENCE_SIGNAL`): whoever waits for the buffer wakes.
   *
   * @throws {Deno.errors.TimedOut} `ETIMEDOUT` when the fence had expired (vgem signalled it
   *   itself 10 s after attaching); it is signalled all the same.
   * @throws {Deno.errors.NotFound} `ENOENT` when it was signalled through this device already.
   */
  signal(): void {
    const name = "DRM_IOCTL_VGEM_FENCE_SIGNAL";
    requireVgem(this.#device, name);
    this.#signalled = true;
    this.#device._ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL, name, (v) => {
      v.setUint32(drm_vgem_fence_signal.fence, this.id, true);
    });
  }
}
