/**
 * drivers/gpu/drm/vgem/ (6.12): vgem, the virtual GEM provider — a DRM device without hardware
 * (`/dev/dri/card0`, `/dev/dri/renderD128`) whose objects are shmem GEM objects
 * (`DRM_GEM_SHMEM_DRIVER_OPS`: dumb buffers, PRIME import and export), and its two ioctls
 * (vgem_fence.c):
 *
 * - `DRM_IOCTL_VGEM_FENCE_ATTACH`: flags other than `VGEM_FENCE_WRITE` or a non-zero `pad` are
 *   `EINVAL`, an unknown handle `ENOENT`; a conflicting unsignalled fence (for a write: any; for
 *   a read: a writer) is `EBUSY`. Otherwise a new fence (driver `vgem`, timeline `unbound`, its
 *   own context, seqno 1) goes on the object's reservation object — which for an imported buffer
 *   is the dma-buf's — as `write` or `read`, and `out_fence` is its id on this file: 1, 2, 3, …
 *   (ids are never reused). The fence signals itself after 10 s (`VGEM_FENCE_TIMEOUT`).
 * - `DRM_IOCTL_VGEM_FENCE_SIGNAL`: non-zero flags are `EINVAL`; an unknown id, or one signalled
 *   through this ioctl already, is `ENOENT`; a fence that had expired is signalled anyway and the
 *   ioctl returns `ETIMEDOUT`.
 * - Closing the file signals every fence it still holds (`vgem_fence_close`).
 *
 * The 10 s expiry is a real timer (unref'd, so it never keeps a process alive); a synchronous
 * wait that nothing else can end (SYNC START) sleeps until it fires, as a task on Linux would.
 *
 * @module
 */
import { Errno, fail } from "../../errno.ts";
import type { DriverContext } from "../../driver_context.ts";
import { DMA_BIT_MASK } from "../../dma_mapping.ts";
import {
  dma_fence,
  dma_fence_context_alloc,
  dma_fence_is_signaled,
  dma_fence_signal,
} from "../../dma_fence.ts";
import { dma_resv_add_fence, dma_resv_test_signaled, dma_resv_usage_rw } from "../../dma_resv.ts";
import {
  DRM_IOCTL_VGEM_FENCE_ATTACH,
  DRM_IOCTL_VGEM_FENCE_SIGNAL,
  drm_vgem_fence_attach,
  drm_vgem_fence_signal,
  VGEM_FENCE_TIMEOUT_MS,
  VGEM_FENCE_WRITE,
} from "../../../uapi/drm.ts";
import {
  DRIVER_GEM,
  DRIVER_RENDER,
  drm_dev_register,
  drm_device,
  type drm_driver,
  type drm_file,
  DRM_RENDER_ALLOW,
} from "./drm/drm_drv.ts";
import { drm_gem_object_lookup, drm_gem_object_put } from "./drm/drm_gem.ts";
import {
  drm_gem_shmem_dumb_create,
  drm_gem_shmem_prime_import_sg_table,
} from "./drm/drm_gem_shmem_helper.ts";

/** `struct vgem_fence`: a dma_fence with its expiry timer. */
interface vgem_fence {
  readonly base: dma_fence;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** `struct vgem_file`: the fences attached through one open file (`fence_idr`). */
interface vgem_file {
  /** id → fence; an id signalled through the ioctl maps to null (`idr_replace(…, NULL, …)`). */
  readonly fence_idr: Map<number, vgem_fence | null>;
  next_id: number;
}

function vgem_fence_signal_now(f: vgem_fence): void {
  if (f.timer !== undefined) clearTimeout(f.timer);
  f.timer = undefined;
  dma_fence_signal(f.base);
}

/** `vgem_fence_create()`: a fence on a new context that expires after 10 s. */
function vgem_fence_create(): vgem_fence {
  const f: vgem_fence = {
    base: new dma_fence("vgem", "unbound", dma_fence_context_alloc(1), 1),
    timer: undefined,
  };
  // "We force the fence to expire within 10s to prevent driver hangs."
  const expire = () => {
    if (f.timer !== undefined) clearTimeout(f.timer);
    f.timer = undefined;
    dma_fence_signal(f.base);
  };
  f.timer = setTimeout(expire, VGEM_FENCE_TIMEOUT_MS);
  Deno.unrefTimer?.(f.timer as unknown as number);
  f.base.timeout = { expires: performance.now() + VGEM_FENCE_TIMEOUT_MS, fire: expire };
  return f;
}

/** `vgem_fence_attach_ioctl()`. */
function vgem_fence_attach_ioctl(_dev: drm_device, data: DataView, file_priv: drm_file): void {
  const A = drm_vgem_fence_attach;
  const vfile = file_priv.driver_priv as vgem_file;
  const flags = data.getUint32(A.flags, true);
  if (flags & ~VGEM_FENCE_WRITE) fail(Errno.EINVAL);
  if (data.getUint32(A.pad, true)) fail(Errno.EINVAL);
  const obj = drm_gem_object_lookup(file_priv, data.getUint32(A.handle, true));
  if (!obj) fail(Errno.ENOENT);
  try {
    const write = (flags & VGEM_FENCE_WRITE) !== 0;
    // Check for a conflicting fence.
    if (!dma_resv_test_signaled(obj.resv, dma_resv_usage_rw(write))) fail(Errno.EBUSY);
    const fence = vgem_fence_create();
    dma_resv_add_fence(obj.resv, fence.base, write ? "write" : "read");
    const id = vfile.next_id++;
    vfile.fence_idr.set(id, fence);
    data.setUint32(A.out_fence, id, true);
  } finally {
    drm_gem_object_put(obj);
  }
}

/** `vgem_fence_signal_ioctl()`. */
function vgem_fence_signal_ioctl(_dev: drm_device, data: DataView, file_priv: drm_file): void {
  const S = drm_vgem_fence_signal;
  const vfile = file_priv.driver_priv as vgem_file;
  if (data.getUint32(S.flags, true)) fail(Errno.EINVAL);
  const id = data.getUint32(S.fence, true);
  const fence = vfile.fence_idr.get(id);
  if (!fence) fail(Errno.ENOENT); // never attached, or signalled through this ioctl already
  vfile.fence_idr.set(id, null);
  const expired = dma_fence_is_signaled(fence.base);
  vgem_fence_signal_now(fence);
  if (expired) fail(Errno.ETIMEDOUT);
}

/** `vgem_driver`. */
export const vgem_driver: drm_driver = {
  name: "vgem",
  desc: "Virtual GEM provider",
  major: 1,
  minor: 0,
  patchlevel: 0,
  driver_features: DRIVER_GEM | DRIVER_RENDER,
  ioctls: [
    undefined, // vgem's numbers start at DRM_COMMAND_BASE + 1
    {
      cmd: DRM_IOCTL_VGEM_FENCE_ATTACH,
      func: vgem_fence_attach_ioctl,
      flags: DRM_RENDER_ALLOW,
      name: "DRM_IOCTL_VGEM_FENCE_ATTACH",
    },
    {
      cmd: DRM_IOCTL_VGEM_FENCE_SIGNAL,
      func: vgem_fence_signal_ioctl,
      flags: DRM_RENDER_ALLOW,
      name: "DRM_IOCTL_VGEM_FENCE_SIGNAL",
    },
  ],
  // vgem_open() → vgem_fence_open(): ids start at 1.
  open(_dev, file_priv) {
    file_priv.driver_priv = { fence_idr: new Map(), next_id: 1 } satisfies vgem_file;
  },
  // vgem_postclose() → vgem_fence_close(): every fence still held is signalled.
  postclose(_dev, file_priv) {
    const vfile = file_priv.driver_priv as vgem_file;
    for (const f of vfile.fence_idr.values()) if (f) vgem_fence_signal_now(f);
    vfile.fence_idr.clear();
  },
  dumb_create: drm_gem_shmem_dumb_create,
  gem_prime_import_sg_table: drm_gem_shmem_prime_import_sg_table,
};

/**
 * `vgem_init()`: the platform device `vgem` (64-bit DMA mask: importers' pages are mapped for
 * it) and the DRM device on it.
 */
export function vgem_init(m: DriverContext): drm_device {
  const pdev = { name: "vgem", dma_mask: DMA_BIT_MASK(64) };
  const dev = new drm_device(m, vgem_driver, pdev);
  drm_dev_register(dev);
  return dev;
}
