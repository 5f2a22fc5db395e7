/**
 * DRM devices for dma-buf sharing: open a `/dev/dri/card*` node (found by its driver's name),
 * import a {@linkcode DmaBuf} into it (PRIME `FD_TO_HANDLE`), export a GEM object as a DmaBuf
 * (PRIME `HANDLE_TO_FD`) and map and sync it like any other, make dumb buffers, and — with the
 * virtual GEM driver `vgem`, which the stock Debian kernel ships — put a real driver's fence on a
 * buffer's reservation object, which `buf.wait()`, `poll` and `buf.exportSyncFile()` then see.
 *
 * @example A vgem fence holds readers until it is signalled
 * ```ts
 * import { openDrmDevice } from "./mod.ts";
 * import { openHeap } from "../../mod.ts";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using card = openDrmDevice({ driver: "vgem" });
 * using buf = heap.allocate(4096);
 * using gem = card.importDmaBuf(buf);
 * const fence = gem.attachFence("write");
 * let woke = false;
 * const reader = buf.wait("read").then(() => (woke = true));
 * await new Promise((r) => setTimeout(r, 20));
 * assert.equal(woke, false);
 * fence.signal();
 * await reader;
 * assert.equal(woke, true);
 * ```
 *
 * @module
 */
export {
  DrmDevice,
  type DrmDeviceInfo,
  DrmMapping,
  type DrmVersion,
  DumbBuffer,
  type DumbBufferOptions,
  type ExportOptions,
  GemObject,
  listDrmDevices,
  openDrmDevice,
  type OpenDrmOptions,
  VgemFence,
} from "./device.ts";
export {
  DRM_CAP_DUMB_BUFFER,
  DRM_CAP_PRIME,
  DRM_CAP_TIMESTAMP_MONOTONIC,
  DRM_PRIME_CAP_EXPORT,
  DRM_PRIME_CAP_IMPORT,
  VGEM_FENCE_TIMEOUT_MS,
} from "../uapi/drm.ts";
