/** Conformance cases for buffers: names, sync, dup, wrapping fds, lseek, poll, lifetimes. */
import assert from "node:assert/strict";
import { type ConformanceCase, errnoOf } from "./harness.ts";
import { DmaBuf, openHeap } from "../../mod.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_A,
  DMA_BUF_SET_NAME_B,
} from "../../src/uapi/dma_buf.ts";
import { _IOW } from "../../src/uapi/ioctl.ts";
import {
  F_GETFD,
  FD_CLOEXEC,
  POLLIN,
  POLLOUT,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "../../src/uapi/constants.ts";

export const bufferCases: ConformanceCase[] = [
  {
    name: "DmaBuf.setName() keeps up to 31 bytes and rejects 32 with EINVAL",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      assert.equal(buf.info().name, undefined);
      buf.setName("");
      obs.empty = buf.info().name;
      assert.equal(obs.empty, "");
      const n31 = "n".repeat(31);
      buf.setName(n31);
      assert.equal(buf.info().name, n31);
      obs.n32 = errnoOf(() => buf.setName("n".repeat(32)));
      assert.equal(obs.n32, "EINVAL");
      assert.equal(buf.info().name, n31, "a failed rename keeps the old name");
      buf.setName("frame-0");
      obs.link = k.readLink(`/proc/self/fd/${buf.fd}`);
      assert.equal(obs.link, "/dmabuf:frame-0");
    },
  },
  {
    name: "DMA_BUF_SET_NAME accepts only the _A and _B numbers and faults on NULL",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      const arg = k.userBuffer(8);
      arg.bytes.set([0x61, 0x62, 0]);
      obs.a = errnoOf(() => k.ioctl(buf.fd, DMA_BUF_SET_NAME_A, arg));
      obs.b = errnoOf(() => k.ioctl(buf.fd, DMA_BUF_SET_NAME_B, arg));
      obs.otherSize = errnoOf(() => k.ioctl(buf.fd, _IOW("b", 1, 16), arg));
      obs.nullArg = errnoOf(() => k.ioctl(buf.fd, DMA_BUF_SET_NAME_B, null));
      assert.deepEqual([obs.a, obs.b, obs.otherSize, obs.nullArg], [
        "ok",
        "ok",
        "ENOTTY",
        "EFAULT",
      ]);
      assert.equal(buf.info().name, "ab");
    },
  },
  {
    name: "DMA_BUF_IOCTL_SYNC accepts flags 1,2,3,5,6,7 only",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      const arg = k.userBuffer(8);
      for (const flags of [0, 1, 2, 3, 4, 5, 6, 7, 8, 0x13]) {
        arg.view.setUint32(0, flags, true);
        obs[flags] = errnoOf(() => k.ioctl(buf.fd, DMA_BUF_IOCTL_SYNC, arg));
        const ok = [1, 2, 3, 5, 6, 7].includes(flags);
        assert.equal(obs[flags], ok ? "ok" : "EINVAL", `flags ${flags}`);
      }
      // The upper half of the u64 counts too.
      arg.view.setUint32(0, 1, true);
      arg.view.setUint32(4, 1, true);
      obs.high = errnoOf(() => k.ioctl(buf.fd, DMA_BUF_IOCTL_SYNC, arg));
      assert.equal(obs.high, "EINVAL");
      obs.nullArg = errnoOf(() => k.ioctl(buf.fd, DMA_BUF_IOCTL_SYNC, null));
      assert.equal(obs.nullArg, "EFAULT");
    },
  },
  {
    name: "DmaBuf.endCpuAccess() without a START succeeds on a heap buffer",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      obs.end = errnoOf(() => buf.endCpuAccess("write"));
      assert.equal(obs.end, "ok");
    },
  },
  {
    name: "an unknown ioctl on a dma-buf is ENOTTY",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      obs.code = errnoOf(() => k.ioctl(buf.fd, _IOW("b", 9, 8), k.userBuffer(8)));
      assert.equal(obs.code, "ENOTTY");
    },
  },
  {
    name: "DmaBuf.dup() shares the buffer and raises fdinfo count",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      assert.equal(buf.info().count, 1);
      const copy = buf.dup();
      assert.notEqual(copy.fd, buf.fd);
      assert.equal(buf.info().inode, copy.info().inode);
      assert.equal(k.fcntl(copy.fd, F_GETFD, 0) & FD_CLOEXEC, FD_CLOEXEC);
      obs.countWithDup = buf.info().count;
      assert.equal(obs.countWithDup, 2);
      copy.close();
      obs.countAfter = buf.info().count;
      assert.equal(obs.countAfter, 1);
    },
  },
  {
    name: "DmaBuf.from() validates the fd and borrows or owns it",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(8192);
      const borrowed = DmaBuf.from(buf.fd, { kernel: k, owned: false });
      assert.equal(borrowed.size, 8192);
      borrowed.close();
      assert.equal(buf.info().size, 8192, "closing a borrowed DmaBuf keeps the fd open");
      obs.heapFd = errnoOf(() => DmaBuf.from(heap.fd, { kernel: k }));
      assert.equal(obs.heapFd, "EINVAL");
      obs.closedFd = errnoOf(() => DmaBuf.from(999_999, { kernel: k }));
      assert.equal(obs.closedFd, "EBADF");
      obs.negative = errnoOf(() => DmaBuf.from(-1, { kernel: k }));
      assert.equal(obs.negative, "EINVAL");
    },
  },
  {
    name: "lseek on a dma-buf accepts only offset 0 with SEEK_SET or SEEK_END",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(3 * 4096);
      obs.end = k.lseek(buf.fd, 0, SEEK_END);
      obs.set = k.lseek(buf.fd, 0, SEEK_SET);
      obs.cur = errnoOf(() => k.lseek(buf.fd, 0, SEEK_CUR));
      obs.offset = errnoOf(() => k.lseek(buf.fd, 4096, SEEK_SET));
      assert.deepEqual([obs.end, obs.set, obs.cur, obs.offset], [12288, 0, "EINVAL", "EINVAL"]);
      assert.equal(buf.info().pos, 0);
      obs.heap = errnoOf(() => k.lseek(heap.fd, 0, SEEK_SET));
      assert.equal(obs.heap, "ESPIPE");
    },
  },
  {
    name: "poll on a dma-buf without fences is readable and writable at once",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(4096);
      obs.both = k.poll([{ fd: buf.fd, events: POLLIN | POLLOUT }], 0)[0];
      obs.inOnly = k.poll([{ fd: buf.fd, events: POLLIN }], 0)[0];
      assert.equal(obs.both, POLLIN | POLLOUT);
      assert.equal(obs.inOnly, POLLIN);
    },
  },
  {
    name: "closed fds give EBADF on every call",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      const buf = heap.allocate(4096);
      const fd = buf.fd;
      buf.close();
      const arg = k.userBuffer(8);
      arg.view.setUint32(0, 1, true);
      obs.ioctl = errnoOf(() => k.ioctl(fd, DMA_BUF_IOCTL_SYNC, arg));
      obs.close = errnoOf(() => k.close(fd));
      obs.lseek = errnoOf(() => k.lseek(fd, 0, SEEK_END));
      assert.deepEqual([obs.ioctl, obs.close, obs.lseek], ["EBADF", "EBADF", "EBADF"]);
    },
  },
  {
    name: "DmaBuf methods after close() throw BadResource and close() is idempotent",
    run(k, obs) {
      using heap = openHeap("system", { kernel: k });
      const buf = heap.allocate(4096);
      const map = buf.map();
      buf.close();
      buf.close();
      assert.equal(map.closed, true, "closing a buffer unmaps its mappings");
      for (
        const fn of [() => buf.map(), () => buf.info(), () => buf.beginCpuAccess(), () => buf.fd]
      ) {
        assert.throws(fn, Deno.errors.BadResource);
      }
      assert.throws(() => map.read(() => 0), Deno.errors.BadResource);
      obs.ok = true;
    },
  },
];
