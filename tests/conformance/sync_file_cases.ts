/**
 * Conformance cases for sync_file (drivers/dma-buf/sync_file.c) and sw_sync (sw_sync.c):
 * `SYNC_IOC_FILE_INFO`, `SYNC_IOC_MERGE`, fence names, statuses and errors. Names that hold a
 * fence context (a per-boot counter) are recorded as patterns, not numbers.
 */
import assert from "node:assert/strict";
import { type ConformanceCase, errnoOf } from "./harness.ts";
import type { ErrnoError } from "../../src/errors.ts";
import { openHeap, SyncFile, type SyncFileInfo } from "../../mod.ts";
import { SwSyncTimeline } from "../../src/sync/sw_sync.ts";
import {
  SW_SYNC_GET_DEADLINE,
  sw_sync_get_deadline,
  sync_fence_info,
  sync_file_info,
  SYNC_IOC_FILE_INFO,
  SYNC_IOC_MERGE,
  SYNC_IOC_SET_DEADLINE,
  sync_merge_data,
  sync_set_deadline,
} from "../../src/uapi/sync_file.ts";
import { _IOWR } from "../../src/uapi/ioctl.ts";
import { F_GETFD, FD_CLOEXEC } from "../../src/uapi/constants.ts";
import type { Kernel } from "../../src/kernel/types.ts";

/**
 * `/proc/thread-self/comm` without its newline: what sw_sync names a timeline after (the opening
 * thread's `current->comm`). Not `/proc/self/comm`, the thread group leader's: under `deno test`
 * the tests run on a `tokio-runtime-w` thread while the leader is `deno` (seen in the arm64
 * guest, and on an x86_64 host).
 */
function comm(k: Kernel): string {
  return k.readText("/proc/thread-self/comm").trim();
}

/** The info with timestamps reduced to "set" / "zero" (their values differ run to run). */
function shape(info: SyncFileInfo) {
  return {
    status: info.status,
    fences: info.fences.map((f) => ({
      driver: f.driver,
      timeline: f.timeline,
      status: f.status,
      timestamp: f.timestamp > 0 ? "set" : "zero",
    })),
  };
}

/** A sw_sync fence at `value` on `t`, wrapped. */
function swFence(k: Kernel, t: SwSyncTimeline, value: number, name?: string): SyncFile {
  return SyncFile.from(t.createFence(value, name), { kernel: k });
}

/** `SYNC_IOC_FILE_INFO` by hand: returns errno name or the fields. */
function rawInfo(k: Kernel, fd: number, set: (v: DataView) => void) {
  const arg = k.userBuffer(sync_file_info.size);
  set(arg.view);
  const r = errnoOf(() => k.ioctl(fd, SYNC_IOC_FILE_INFO, arg, "SYNC_IOC_FILE_INFO"));
  if (r !== "ok") return r;
  return {
    status: arg.view.getInt32(sync_file_info.status, true),
    num_fences: arg.view.getUint32(sync_file_info.num_fences, true),
  };
}

/** `SYNC_IOC_SET_DEADLINE` on `fd`: "ok" or the errno name. */
function setDeadline(k: Kernel, fd: number, ns: bigint, pad = 0n): string {
  const arg = k.userBuffer(sync_set_deadline.size);
  arg.view.setBigUint64(sync_set_deadline.deadline_ns, ns, true);
  arg.view.setBigUint64(sync_set_deadline.pad, pad, true);
  return errnoOf(() => k.ioctl(fd, SYNC_IOC_SET_DEADLINE, arg, "SYNC_IOC_SET_DEADLINE"));
}

/** `SW_SYNC_GET_DEADLINE` of the sync_file `fd` through timeline `t`: ns as a string, or errno. */
function getDeadline(k: Kernel, t: SwSyncTimeline, fd: number, pad = 0): string {
  const arg = k.userBuffer(sw_sync_get_deadline.size);
  arg.view.setUint32(sw_sync_get_deadline.pad, pad, true);
  arg.view.setInt32(sw_sync_get_deadline.fence_fd, fd, true);
  const r = errnoOf(() => k.ioctl(t.fd, SW_SYNC_GET_DEADLINE, arg, "SW_SYNC_GET_DEADLINE"));
  return r === "ok" ? String(arg.view.getBigUint64(sw_sync_get_deadline.deadline_ns, true)) : r;
}

export const syncFileCases: ConformanceCase[] = [
  {
    name: "SyncFile.info() of a buffer without fences is the signalled stub",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      for (const access of ["read", "write"] as const) {
        using fence = buf.exportSyncFile(access);
        const info = fence.info();
        obs[access] = { name: info.name, ...shape(info) };
      }
      assert.deepEqual(obs.write, {
        name: "stub-stub0-0",
        status: 1,
        fences: [{ driver: "stub", timeline: "stub", status: 1, timestamp: "set" }],
      });
    },
  },
  {
    name: "SYNC_IOC_FILE_INFO checks flags and pad, and answers num_fences 0 with the count",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      using fence = buf.exportSyncFile("write");
      obs.flags = rawInfo(k, fence.fd, (v) => v.setUint32(sync_file_info.flags, 1, true));
      obs.pad = rawInfo(k, fence.fd, (v) => v.setUint32(sync_file_info.pad, 1, true));
      // num_fences 0: the pointer is not touched, even a bad one.
      obs.count = rawInfo(
        k,
        fence.fd,
        (v) => v.setBigUint64(sync_file_info.sync_fence_info, 8n, true),
      );
      obs.badPointer = rawInfo(k, fence.fd, (v) => {
        v.setUint32(sync_file_info.num_fences, 1, true);
        v.setBigUint64(sync_file_info.sync_fence_info, 8n, true);
      });
      const list = k.userBuffer(4 * sync_fence_info.size);
      obs.roomier = rawInfo(k, fence.fd, (v) => {
        v.setUint32(sync_file_info.num_fences, 4, true);
        v.setBigUint64(sync_file_info.sync_fence_info, BigInt(list.address), true);
      });
      obs.otherIoctl = errnoOf(() => k.ioctl(fence.fd, _IOWR(">", 9, 8), k.userBuffer(8)));
      assert.deepEqual(
        [obs.flags, obs.pad, obs.count, obs.badPointer, obs.roomier, obs.otherIoctl],
        [
          "EINVAL",
          "EINVAL",
          { status: 1, num_fences: 1 },
          "EFAULT",
          { status: 1, num_fences: 1 },
          "ENOTTY",
        ],
      );
    },
  },
  {
    name: "SyncFile.merge() makes a new close-on-exec fd; SYNC_IOC_MERGE checks flags, pad, fd2",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      using a = buf.exportSyncFile("write");
      using b = buf.exportSyncFile("read");
      using m = a.merge(b, "merged");
      obs.cloexec = k.fcntl(m.fd, F_GETFD, 0) === FD_CLOEXEC;
      obs.link = k.readLink(`/proc/self/fd/${m.fd}`);
      const info = m.info();
      obs.info = { name: info.name, ...shape(info) };
      using self = a.merge(a);
      obs.unnamed = /^stub-stub\d+-0$/.test(self.info().name);
      const raw = (set: (v: DataView) => void) => {
        const arg = k.userBuffer(sync_merge_data.size);
        arg.view.setInt32(sync_merge_data.fd2, b.fd, true);
        set(arg.view);
        const r = errnoOf(() => k.ioctl(a.fd, SYNC_IOC_MERGE, arg, "SYNC_IOC_MERGE"));
        if (r === "ok") k.close(arg.view.getInt32(sync_merge_data.fence, true));
        return r;
      };
      obs.ok = raw(() => {});
      obs.flags = raw((v) => v.setUint32(sync_merge_data.flags, 1, true));
      obs.pad = raw((v) => v.setUint32(sync_merge_data.pad, 1, true));
      obs.badFd = raw((v) => v.setInt32(sync_merge_data.fd2, -1, true));
      obs.notSyncFile = raw((v) => v.setInt32(sync_merge_data.fd2, buf.fd, true));
      obs.tooLongName = errnoOf(() => a.merge(b, "n".repeat(32)));
      assert.deepEqual(
        [obs.cloexec, obs.ok, obs.flags, obs.pad, obs.badFd, obs.notSyncFile],
        [true, "ok", "EINVAL", "EINVAL", "ENOENT", "ENOENT"],
      );
      assert.deepEqual(obs.info, {
        name: "merged",
        status: 1,
        fences: [{ driver: "stub", timeline: "stub", status: 1, timestamp: "set" }],
      });
    },
  },
  {
    name: "sw_sync fences are named after the timeline's comm and signal on SW_SYNC_IOC_INC",
    needs: "sw_sync",
    run(k, obs) {
      const c = comm(k);
      const t = new SwSyncTimeline(k);
      try {
        using f1 = swFence(k, t, 1, "ignored-name");
        using f2 = swFence(k, t, 2);
        using again = swFence(k, t, 2);
        using done = swFence(k, t, 0);
        const i1 = f1.info();
        obs.f1Name = new RegExp(`^sw_sync-${c}\\d+-1$`).test(i1.name);
        obs.timelineIsComm = i1.fences[0].timeline === c;
        obs.pending = shape(i1);
        obs.reached = shape(done.info());
        using m = f1.merge(f2, "pair");
        using same = f2.merge(again, "same");
        obs.pair = shape(m.info());
        obs.samePoint = shape(same.info());
        obs.poll = [f1.poll(), f2.poll(), m.poll()];
        t.inc(1);
        obs.afterInc1 = { f1: shape(f1.info()), pair: shape(m.info()), poll: m.poll() };
        t.inc(1);
        obs.afterInc2 = { pair: shape(m.info()), poll: m.poll() };
        assert.deepEqual([obs.f1Name, obs.timelineIsComm], [true, true]);
        assert.deepEqual(obs.pending, {
          status: 0,
          fences: [{ driver: "sw_sync", timeline: c, status: 0, timestamp: "zero" }],
        });
      } finally {
        t.close();
      }
      // The comm itself differs between kernels' test runners only in name; keep it out.
      for (const key of ["pending", "reached", "pair", "samePoint", "afterInc1", "afterInc2"]) {
        obs[key] = JSON.parse(JSON.stringify(obs[key]).replaceAll(JSON.stringify(c), '"<comm>"'));
      }
    },
  },
  {
    name: "CPU access waits for pending fences at most its timeout, then ETIMEDOUT before SYNC",
    needs: "sw_sync",
    // The kernel's SYNC START would sleep until the sw_sync point signals (forever, here): the
    // library polls first (POLLIN for a read, POLLOUT for a write) and gives up in time.
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      using map = buf.map();
      map.write((b) => b.fill(7));
      const t = new SwSyncTimeline(k);
      try {
        const attempt = (access: "read" | "write", timeout: number) => {
          let called = false;
          const fn = (b: Uint8Array) => {
            called = true;
            return b[0];
          };
          try {
            const r = access === "read" ? map.read(fn, { timeout }) : map.write(fn, { timeout });
            return { result: r, called };
          } catch (e) {
            return { error: (e as ErrnoError).code, syscall: (e as ErrnoError).syscall, called };
          }
        };
        using reader = swFence(k, t, 1);
        buf.importSyncFile(reader, "read"); // a device reading: a CPU read may go on
        obs.readFence = { read: attempt("read", 0), write: attempt("write", 0) };
        using writer = swFence(k, t, 2);
        buf.importSyncFile(writer, "write"); // a device writing: neither may
        obs.writeFence = { read: attempt("read", 0), write: attempt("write", 30) };
        obs.badTimeout = errnoOf(() => map.read(() => 0, { timeout: -1 }));
        t.inc(2);
        obs.signalled = { read: attempt("read", 0), write: attempt("write", 0) };
      } finally {
        t.close();
      }
      const timedOut = { error: "ETIMEDOUT", syscall: "DMA_BUF_IOCTL_SYNC", called: false };
      assert.deepEqual(obs.readFence, { read: { result: 7, called: true }, write: timedOut });
      assert.deepEqual(obs.writeFence, { read: timedOut, write: timedOut });
      assert.equal(obs.badTimeout, "EINVAL");
      assert.deepEqual(obs.signalled, {
        read: { result: 7, called: true },
        write: { result: 7, called: true },
      });
    },
  },
  {
    name: "SYNC_IOC_SET_DEADLINE reaches sw_sync fences (the earliest wins); SW_SYNC_GET_DEADLINE",
    needs: "sw_sync",
    run(k, obs) {
      const t = new SwSyncTimeline(k), u = new SwSyncTimeline(k);
      try {
        using a = swFence(k, t, 1);
        using b = swFence(k, u, 1);
        using done = swFence(k, t, 0);
        using both = a.merge(b);
        using heap = openHeap("system", { kernel: k });
        using buf = heap.allocate(4096);
        using stub = buf.exportSyncFile("write");
        obs.none = getDeadline(k, t, a.fd);
        obs.set = setDeadline(k, a.fd, 5_000_000_000n);
        obs.later = setDeadline(k, a.fd, 9_000_000_000n);
        obs.a = getDeadline(k, t, a.fd);
        obs.earlier = setDeadline(k, a.fd, 2_000_000_000n);
        obs.aEarlier = getDeadline(k, t, a.fd);
        obs.viaMerge = setDeadline(k, both.fd, 7_000_000_000n);
        obs.b = getDeadline(k, u, b.fd);
        obs.merged = getDeadline(k, t, both.fd);
        obs.signalled = [setDeadline(k, done.fd, 1n), getDeadline(k, t, done.fd)];
        obs.pad = [setDeadline(k, a.fd, 1n, 1n), getDeadline(k, t, a.fd, 1)];
        obs.stub = [setDeadline(k, stub.fd, 1n), getDeadline(k, t, stub.fd)];
        obs.notSyncFile = getDeadline(k, t, buf.fd);
        assert.deepEqual([obs.none, obs.a, obs.aEarlier], ["ENOENT", "5000000000", "2000000000"]);
      } finally {
        t.close();
        u.close();
      }
    },
  },
  {
    name: "closing a sw_sync timeline signals its fences with -ENOENT; merges report it",
    needs: "sw_sync",
    run(k, obs) {
      const t1 = new SwSyncTimeline(k), t2 = new SwSyncTimeline(k), t3 = new SwSyncTimeline(k);
      try {
        using a = swFence(k, t1, 1);
        using b = swFence(k, t2, 1);
        using c = swFence(k, t3, 1);
        using lazy = a.merge(b, "lazy"); // nobody waits on it: signalling never enabled
        using polled = a.merge(c, "polled");
        obs.polledBefore = polled.poll(); // enables signalling on the array
        t1.close();
        obs.a = shape(a.info());
        obs.lazyOne = shape(lazy.info());
        t2.inc(1);
        t3.inc(1);
        obs.lazy = shape(lazy.info());
        obs.polled = shape(polled.info());
        obs.lazyRaw = rawInfo(k, lazy.fd, () => {});
        obs.polledRaw = rawInfo(k, polled.fd, () => {});
        assert.equal(obs.a && (obs.a as { status: number }).status, -2);
      } finally {
        t1.close();
        t2.close();
        t3.close();
      }
      for (const key of ["a", "lazyOne", "lazy", "polled"]) {
        obs[key] = JSON.parse(
          JSON.stringify(obs[key]).replaceAll(JSON.stringify(comm(k)), '"<comm>"'),
        );
      }
    },
  },
];
