/**
 * Conformance cases for DRM (the vgem driver): `DRM_IOCTL_VERSION`/`GET_CAP`, PRIME import and
 * export, dumb buffers, GEM handles, and vgem fences on a buffer's reservation object. The
 * expected values are what the stock Debian 6.12 kernel answered (`modprobe vgem`).
 */
import assert from "node:assert/strict";
import { type ConformanceCase, errnoOf } from "./harness.ts";
import { openHeap } from "../../mod.ts";
import { DRM_CAP_DUMB_BUFFER, DRM_CAP_PRIME, openDrmDevice } from "../../src/drm/mod.ts";
import type { Kernel } from "../../src/kernel/types.ts";
import {
  MAP_PRIVATE,
  MAP_SHARED,
  POLLIN,
  POLLOUT,
  PROT_READ,
  PROT_WRITE,
} from "../../src/uapi/constants.ts";
import {
  DRM_CAP_TIMESTAMP_MONOTONIC,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_DESTROY_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_IOCTL_VGEM_FENCE_ATTACH,
  DRM_IOCTL_VGEM_FENCE_SIGNAL,
} from "../../src/uapi/drm.ts";
import { _IOWR } from "../../src/uapi/ioctl.ts";

/** `poll` of one fd for POLLIN|POLLOUT without waiting. */
function ready(k: Kernel, fd: number): number {
  return k.poll([{ fd, events: POLLIN | POLLOUT }], 0)[0];
}

/** `ioctl` with a fresh argument of `size` bytes filled by `fill`; the errno name or "ok". */
function raw(
  k: Kernel,
  fd: number,
  request: number,
  size: number,
  fill: (v: DataView) => void = () => {},
): string {
  const arg = k.userBuffer(size);
  fill(arg.view);
  return errnoOf(() => k.ioctl(fd, request, arg));
}

/** The fence lines debugfs bufinfo prints under the buffer with inode `ino`. */
function fenceLines(k: Kernel, ino: number): string[] {
  const lines = k.readText("/sys/kernel/debug/dma_buf/bufinfo").split("\n");
  const at = lines.findIndex((l) => l.split("\t")[5] === String(ino).padStart(8, "0"));
  const out: string[] = [];
  for (let i = at + 1; at >= 0 && i < lines.length && lines[i].includes(" fence:"); i++) {
    out.push(lines[i].trim());
  }
  return out;
}

/** The devices attached to the buffer with inode `ino`, per bufinfo. */
function attached(k: Kernel, ino: number): string[] {
  const lines = k.readText("/sys/kernel/debug/dma_buf/bufinfo").split("\n");
  const at = lines.findIndex((l) => l.split("\t")[5] === String(ino).padStart(8, "0"));
  const from = lines.indexOf("\tAttached Devices:", at);
  const out: string[] = [];
  for (let i = from + 1; from >= 0 && lines[i]?.startsWith("\t"); i++) out.push(lines[i].trim());
  return out;
}

function vgemCase(name: string, run: ConformanceCase["run"]): ConformanceCase {
  return { name, needs: "vgem", run };
}

export const drmCases: ConformanceCase[] = [
  vgemCase("vgem answers DRM_IOCTL_VERSION and GET_CAP as a render-only PRIME driver", (k, obs) => {
    using card = openDrmDevice({ driver: "vgem", kernel: k });
    obs.path = card.path;
    obs.version = card.version;
    obs.prime = card.getCap(DRM_CAP_PRIME);
    obs.timestamp = card.getCap(DRM_CAP_TIMESTAMP_MONOTONIC);
    obs.dumbCap = errnoOf(() => card.getCap(DRM_CAP_DUMB_BUFFER));
    obs.unknownCap = errnoOf(() => card.getCap(0x99));
    obs.nodes = k.readDir("/dev/dri");
    assert.deepEqual(obs, {
      path: "/dev/dri/card0",
      version: {
        name: "vgem",
        major: 1,
        minor: 0,
        patchlevel: 0,
        date: "0",
        desc: "Virtual GEM provider",
      },
      prime: 3,
      timestamp: 1,
      dumbCap: "EOPNOTSUPP",
      unknownCap: "EOPNOTSUPP",
      nodes: ["card0", "renderD128"],
    });
  }),
  vgemCase(
    "PRIME_FD_TO_HANDLE of a heap buffer attaches vgem, and HANDLE_TO_FD gives the same buffer back",
    (k, obs) => {
      using heap = openHeap("system", { kernel: k });
      using card = openDrmDevice({ driver: "vgem", kernel: k });
      using buf = heap.allocate(65536);
      const ino = buf.info().inode;
      obs.countBefore = buf.info().count;
      const gem = card.importDmaBuf(buf);
      obs.handle = gem.handle;
      // The import, the object (obj->dma_buf) and the file's PRIME cache each hold a reference.
      obs.countImported = buf.info().count;
      obs.attached = attached(k, ino);
      obs.sameObject = card.importDmaBuf(buf) === gem;
      const back = gem.exportDmaBuf();
      obs.back = {
        sameInode: back.info().inode === ino,
        exporter: back.info().exporter,
        size: back.size,
        count: back.info().count,
      };
      gem.close();
      obs.countClosed = buf.info().count;
      obs.attachedClosed = attached(k, ino);
      back.close();
      obs.countEnd = buf.info().count;
      assert.deepEqual(obs, {
        countBefore: 1,
        handle: 1,
        countImported: 4,
        attached: ["vgem"],
        sameObject: true,
        back: { sameInode: true, exporter: "system", size: 65536, count: 5 },
        countClosed: 2,
        attachedClosed: [],
        countEnd: 1,
      });
    },
  ),
  vgemCase(
    "DRM ioctls reject bad fds, handles, flags and numbers with the kernel's errnos",
    (k, obs) => {
      using heap = openHeap("system", { kernel: k });
      using card = openDrmDevice({ driver: "vgem", kernel: k });
      using buf = heap.allocate(4096);
      using gem = card.importDmaBuf(buf);
      const fd = card.fd;
      obs.fdToHandleClosedFd = raw(
        k,
        fd,
        DRM_IOCTL_PRIME_FD_TO_HANDLE,
        12,
        (v) => v.setInt32(8, 99_999, true),
      );
      obs.fdToHandleNotDmaBuf = raw(
        k,
        fd,
        DRM_IOCTL_PRIME_FD_TO_HANDLE,
        12,
        (v) => v.setInt32(8, heap.fd, true),
      );
      obs.handleToFdFlags = raw(k, fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, 12, (v) => {
        v.setUint32(0, gem.handle, true);
        v.setUint32(4, 4, true);
      });
      obs.handleToFdUnknown = raw(
        k,
        fd,
        DRM_IOCTL_PRIME_HANDLE_TO_FD,
        12,
        (v) => v.setUint32(0, 777, true),
      );
      obs.gemCloseUnknown = raw(k, fd, DRM_IOCTL_GEM_CLOSE, 8, (v) => v.setUint32(0, 777, true));
      obs.gemCloseZero = raw(k, fd, DRM_IOCTL_GEM_CLOSE, 8);
      obs.coreNumberUnused = raw(k, fd, _IOWR("d", 0xff, 16), 16);
      obs.driverNumberUnused = raw(k, fd, _IOWR("d", 0x50, 16), 16);
      obs.driverNumber0x40 = raw(k, fd, _IOWR("d", 0x40, 16), 16);
      obs.notDrmType = raw(k, fd, _IOWR("b", 0, 16), 16);
      obs.drmOnDmaBuf = raw(k, buf.fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, 12);
      const w = gem.attachFence("write");
      try {
        gem.attachFence("write");
      } catch (e) {
        const err = e as { code: string; syscall: string; path: string; message: string };
        obs.typed = {
          code: err.code,
          syscall: err.syscall,
          path: err.path,
          hinted: err.message.includes("wait for the buffer first"),
        };
      }
      w.signal();
      assert.deepEqual(obs, {
        fdToHandleClosedFd: "EBADF",
        fdToHandleNotDmaBuf: "EINVAL",
        handleToFdFlags: "EINVAL",
        handleToFdUnknown: "ENOENT",
        gemCloseUnknown: "EINVAL",
        gemCloseZero: "EINVAL",
        coreNumberUnused: "EINVAL",
        driverNumberUnused: "EINVAL",
        driverNumber0x40: "EINVAL",
        notDrmType: "ENOTTY",
        drmOnDmaBuf: "ENOTTY",
        typed: {
          code: "EBUSY",
          syscall: "ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)",
          path: "/dev/dri/card0",
          hinted: true,
        },
      });
    },
  ),
  vgemCase(
    "vgem dumb buffers: pitch, size, handles, fake offsets and what mmap accepts",
    (k, obs) => {
      using heap = openHeap("system", { kernel: k });
      using card = openDrmDevice({ driver: "vgem", kernel: k });
      using buf = heap.allocate(4096);
      using imported = card.importDmaBuf(buf);
      const d = card.createDumb({ width: 64, height: 64, bpp: 32 });
      const d2 = card.createDumb({ width: 3, height: 3, bpp: 12 });
      obs.dumb = { handle: d.handle, pitch: d.pitch, size: d.size };
      obs.dumb2 = { handle: d2.handle, pitch: d2.pitch, size: d2.size };
      obs.zeroWidth = errnoOf(() => card.createDumb({ width: 0, height: 4, bpp: 32 }));
      obs.tooBig = errnoOf(() => card.createDumb({ width: 65536, height: 65536, bpp: 32 }));
      const off = d.mapOffset();
      const off2 = d2.mapOffset();
      obs.offset = {
        stable: d.mapOffset() === off,
        pageAligned: off % 4096 === 0,
        above4G: off >= 2 ** 32 && off2 >= 2 ** 32,
        distinct: off !== off2,
      };
      obs.mapDumbImported = raw(
        k,
        card.fd,
        DRM_IOCTL_MODE_MAP_DUMB,
        16,
        (v) => v.setUint32(0, imported.handle, true),
      );
      obs.mapDumbUnknown = raw(
        k,
        card.fd,
        DRM_IOCTL_MODE_MAP_DUMB,
        16,
        (v) => v.setUint32(0, 777, true),
      );
      using m = d.map();
      obs.mapLength = m.length;
      obs.zeroed = m.bytes.every((b) => b === 0);
      obs.mmapTooLong = errnoOf(() =>
        k.munmap(k.mmap(card.fd, d.size + 4096, PROT_READ | PROT_WRITE, MAP_SHARED, off))
      );
      obs.mmapNoObject = errnoOf(() =>
        k.munmap(k.mmap(card.fd, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 4096))
      );
      obs.mmapPrivate = errnoOf(() =>
        k.munmap(k.mmap(card.fd, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, off))
      );
      obs.destroyUnknown = raw(
        k,
        card.fd,
        DRM_IOCTL_MODE_DESTROY_DUMB,
        4,
        (v) => v.setUint32(0, 777, true),
      );
      d2.close();
      using d3 = card.createDumb({ width: 1, height: 1, bpp: 8 });
      obs.handleReused = d3.handle === 3;
      obs.flagsIgnored = raw(k, card.fd, DRM_IOCTL_MODE_CREATE_DUMB, 32, (v) => {
        v.setUint32(0, 1, true);
        v.setUint32(4, 1, true);
        v.setUint32(8, 8, true);
        v.setUint32(12, 0xff, true);
      });
      let render = "no render node";
      try {
        const rfd = k.open("/dev/dri/renderD128", 2 | 0o2000000);
        render = raw(k, rfd, DRM_IOCTL_MODE_CREATE_DUMB, 32, (v) => {
          v.setUint32(0, 1, true);
          v.setUint32(4, 1, true);
          v.setUint32(8, 8, true);
        });
        k.close(rfd);
      } catch (e) {
        render = (e as { code?: string }).code ?? String(e);
      }
      obs.renderNodeDumb = render;
      d.close();
      assert.deepEqual(obs, {
        dumb: { handle: 2, pitch: 256, size: 16384 },
        dumb2: { handle: 3, pitch: 5, size: 4096 },
        zeroWidth: "EINVAL",
        tooBig: "EINVAL",
        offset: { stable: true, pageAligned: true, above4G: true, distinct: true },
        mapDumbImported: "EINVAL",
        mapDumbUnknown: "ENOENT",
        mapLength: 16384,
        zeroed: true,
        mmapTooLong: "EINVAL",
        mmapNoObject: "EINVAL",
        mmapPrivate: "EINVAL",
        destroyUnknown: "EINVAL",
        handleReused: true,
        flagsIgnored: "ok",
        renderNodeDumb: "EACCES",
      });
    },
  ),
  vgemCase(
    "a vgem dumb buffer exported through PRIME is a dma-buf named drm that maps and syncs",
    (k, obs) => {
      using card = openDrmDevice({ driver: "vgem", kernel: k });
      using d = card.createDumb({ width: 64, height: 64, bpp: 32 });
      using m = d.map();
      m.bytes.fill(0x5a);
      using buf = d.exportDmaBuf();
      const info = buf.info();
      obs.info = { size: info.size, count: info.count, exporter: info.exporter, flags: info.flags };
      {
        using again = d.exportDmaBuf({ readOnly: true });
        obs.reexport = { sameInode: again.info().inode === info.inode, flags: again.info().flags };
      }
      using map = buf.map();
      obs.seesDumbBytes = map.read((b) => b.every((x) => x === 0x5a));
      map.write((b) => b.fill(0x33));
      obs.dumbSeesWrite = m.bytes.every((x) => x === 0x33);
      using gem = card.importDmaBuf(buf);
      obs.reimportSameHandle = gem.handle === d.handle;
      obs.countMapped = buf.info().count;
      assert.deepEqual(obs, {
        info: { size: 16384, count: 3, exporter: "drm", flags: 0o2000002 },
        reexport: { sameInode: true, flags: 0o2000002 },
        seesDumbBytes: true,
        dumbSeesWrite: true,
        reimportSameHandle: true,
        countMapped: 4,
      });
    },
  ),
  vgemCase(
    "vgem fences: ids, EBUSY on conflicts, and what poll, sync files and bufinfo show",
    async (k, obs) => {
      using heap = openHeap("system", { kernel: k });
      using card = openDrmDevice({ driver: "vgem", kernel: k });
      using buf = heap.allocate(65536);
      const ino = buf.info().inode;
      using gem = card.importDmaBuf(buf);
      const w = gem.attachFence("write");
      obs.writeId = w.id;
      obs.pollWrite = ready(k, buf.fd);
      obs.readOnWrite = errnoOf(() => gem.attachFence("read"));
      obs.writeOnWrite = errnoOf(() => gem.attachFence("write"));
      obs.fences = fenceLines(k, ino);
      using sync = buf.exportSyncFile("read");
      obs.syncPending = sync.poll();
      let woke = false;
      const reader = buf.wait("read").then(() => (woke = true));
      await new Promise((r) => setTimeout(r, 50));
      obs.heldBeforeSignal = !woke;
      obs.signal = errnoOf(() => w.signal());
      await reader;
      obs.wokeAfterSignal = woke;
      obs.syncSignalled = sync.poll();
      obs.signalAgain = errnoOf(() => w.signal());
      obs.pollSignalled = ready(k, buf.fd);
      obs.fencesSignalled = fenceLines(k, ino);
      const r1 = gem.attachFence("read");
      const r2 = gem.attachFence("read");
      obs.readIds = [r1.id, r2.id];
      obs.pollReaders = ready(k, buf.fd);
      obs.writeOnReaders = errnoOf(() => gem.attachFence("write"));
      await buf.wait("read", { timeout: 1000 });
      r1.signal();
      r2.signal();
      obs.pollDone = ready(k, buf.fd);
      const fd = card.fd;
      obs.attachFlags = raw(k, fd, DRM_IOCTL_VGEM_FENCE_ATTACH, 16, (v) => {
        v.setUint32(0, gem.handle, true);
        v.setUint32(4, 2, true);
      });
      obs.attachPad = raw(k, fd, DRM_IOCTL_VGEM_FENCE_ATTACH, 16, (v) => {
        v.setUint32(0, gem.handle, true);
        v.setUint32(12, 1, true);
      });
      obs.attachUnknownHandle = raw(
        k,
        fd,
        DRM_IOCTL_VGEM_FENCE_ATTACH,
        16,
        (v) => v.setUint32(0, 999, true),
      );
      obs.signalFlags = raw(k, fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, 8, (v) => {
        v.setUint32(0, r1.id, true);
        v.setUint32(4, 1, true);
      });
      obs.signalUnknown = raw(
        k,
        fd,
        DRM_IOCTL_VGEM_FENCE_SIGNAL,
        8,
        (v) => v.setUint32(0, 999, true),
      );
      // Closing the device file signals the fences it still holds.
      const other = openDrmDevice({ path: card.path, kernel: k });
      other.importDmaBuf(buf).attachFence("write");
      obs.pollOtherPending = ready(k, buf.fd);
      other.close();
      obs.pollOtherClosed = ready(k, buf.fd);
      assert.deepEqual(obs, {
        writeId: 1,
        pollWrite: 0,
        readOnWrite: "EBUSY",
        writeOnWrite: "EBUSY",
        fences: ["write fence:vgem unbound seq 1 unsignalled"],
        syncPending: false,
        heldBeforeSignal: true,
        signal: "ok",
        wokeAfterSignal: true,
        syncSignalled: true,
        signalAgain: "ENOENT",
        pollSignalled: POLLIN | POLLOUT,
        fencesSignalled: ["write fence:vgem unbound seq 1 signalled"],
        readIds: [2, 3],
        pollReaders: POLLIN,
        writeOnReaders: "EBUSY",
        pollDone: POLLIN | POLLOUT,
        attachFlags: "EINVAL",
        attachPad: "EINVAL",
        attachUnknownHandle: "ENOENT",
        signalFlags: "EINVAL",
        signalUnknown: "ENOENT",
        pollOtherPending: 0,
        pollOtherClosed: POLLIN | POLLOUT,
      });
    },
  ),
];
