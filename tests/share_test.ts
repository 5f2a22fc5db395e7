/**
 * Sharing fds and dma-bufs: the socket/SCM_RIGHTS/pidfd boundary on both kernels (the same
 * cases run against the real kernel of this host, with memfds, and against the simulated one, so
 * the model is checked against Linux), then two simulated processes passing dma-bufs, and a
 * Worker taking an fd on real Linux.
 */
import assert from "node:assert/strict";
import type { Kernel } from "../src/kernel/types.ts";
import { linuxKernel } from "../src/kernel/linux.ts";
import { createSimMachine } from "../src/sim/mod.ts";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "../src/uapi/constants.ts";
import {
  AF_UNIX,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  SOCK_STREAM,
} from "../src/uapi/socket.ts";
import { F_GETFD, FD_CLOEXEC } from "../src/uapi/constants.ts";
import { dmabufDump } from "../src/accounting/mod.ts";
import {
  fromWorkerHandle,
  receiveDmaBuf,
  sendDmaBuf,
  takeDmaBuf,
  toWorkerHandle,
  UnixListener,
  UnixSocket,
} from "../src/share/mod.ts";
import { openHeap } from "../mod.ts";

function linuxOrWhyNot(): string | undefined {
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return "no --allow-ffi";
  try {
    linuxKernel();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
const NO_LINUX = linuxOrWhyNot();

const kernels: { name: string; ignore: boolean; make: () => Kernel }[] = [
  { name: "sim", ignore: false, make: () => createSimMachine().process() },
  { name: "linux", ignore: NO_LINUX !== undefined, make: () => linuxKernel() },
];

const bytes = (...b: number[]) => new Uint8Array(b);
const code = (f: () => unknown): string => {
  try {
    f();
    return "ok";
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};
const uniq = () => `\0dmabuf-share-test-${Deno.pid}-${crypto.randomUUID()}`;

/** Every fd opened during `fn` is closed afterwards (the FFI fds escape Deno's sanitizer). */
function tracked(k: Kernel, fn: (open: (fd: number) => number) => void): void {
  const opened: number[] = [];
  try {
    fn((fd) => (opened.push(fd), fd));
  } finally {
    for (const fd of opened.reverse()) {
      try {
        k.close(fd);
      } catch { /* closed by the test */ }
    }
  }
}

for (const { name, ignore, make } of kernels) {
  Deno.test({
    name: `[${name}] socketpair() gives Linux's errnos for families, types and protocols`,
    ignore,
    fn() {
      const k = make();
      assert.equal(code(() => k.socketpair(2, SOCK_STREAM, 0)), "EOPNOTSUPP");
      assert.equal(code(() => k.socketpair(99, SOCK_STREAM, 0)), "EAFNOSUPPORT");
      assert.equal(code(() => k.socketpair(AF_UNIX, 9, 0)), "ESOCKTNOSUPPORT");
      assert.equal(code(() => k.socketpair(AF_UNIX, 15, 0)), "EINVAL");
      assert.equal(code(() => k.socketpair(AF_UNIX, SOCK_STREAM, 2)), "EPROTONOSUPPORT");
      assert.equal(code(() => k.socketpair(AF_UNIX, SOCK_STREAM | 0x100000, 0)), "EINVAL");
      const [a, b] = k.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, AF_UNIX);
      assert.equal(k.fcntl(a, F_GETFD, 0), FD_CLOEXEC);
      assert.match(k.readLink(`/proc/self/fd/${a}`), /^socket:\[\d+\]$/);
      assert.match(k.readText(`/proc/self/fdinfo/${b}`), /\nscm_fds: 0\n$/);
      k.close(a);
      k.close(b);
    },
  });

  Deno.test({
    name:
      `[${name}] sendmsg() passes an fd on the same open file; MSG_CMSG_CLOEXEC sets FD_CLOEXEC`,
    ignore,
    fn() {
      const k = make();
      tracked(k, (open) => {
        const [a, b] = k.socketpair(AF_UNIX, SOCK_STREAM, 0).map(open);
        const m = open(k.memfdCreate("shared", 0));
        k.ftruncate(m, k.pageSize);
        assert.equal(k.sendmsg(a, bytes(1, 2), [m, m], MSG_NOSIGNAL), 2);
        assert.match(k.readText(`/proc/self/fdinfo/${b}`), /\nscm_fds: 2\n$/);
        const r = k.recvmsg(b, new Uint8Array(8), 2, MSG_CMSG_CLOEXEC);
        r.fds.forEach(open);
        // msg_flags starts from the caller's MSG_CMSG_CLOEXEC (____sys_recvmsg).
        assert.deepEqual([r.bytes, r.fds.length, r.flags], [2, 2, MSG_CMSG_CLOEXEC]);
        const ino = (fd: number) => /\nino:\t(\d+)/.exec(k.readText(`/proc/self/fdinfo/${fd}`))![1];
        assert.equal(ino(r.fds[0]), ino(m));
        assert.equal(k.fcntl(r.fds[0], F_GETFD, 0), FD_CLOEXEC);
        const w = k.mmap(m, k.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
        const v = k.mmap(r.fds[1], k.pageSize, PROT_READ, MAP_SHARED, 0);
        new Uint8Array(w.buffer, w.byteOffset)[0] = 77;
        assert.equal(new Uint8Array(v.buffer, v.byteOffset)[0], 77);
        k.munmap(w);
        k.munmap(v);
        k.sendmsg(a, bytes(3), [m], 0);
        const r2 = k.recvmsg(b, new Uint8Array(8), 1, 0);
        r2.fds.forEach(open);
        assert.equal(k.fcntl(r2.fds[0], F_GETFD, 0), 0);
      });
    },
  });

  Deno.test({
    name: `[${name}] sendmsg() refuses bad fds (EBADF), more than 253 (EINVAL), non-sockets`,
    ignore,
    fn() {
      const k = make();
      tracked(k, (open) => {
        const [a, b] = k.socketpair(AF_UNIX, SOCK_SEQPACKET, 0).map(open);
        const m = open(k.memfdCreate("x", 0));
        assert.equal(code(() => k.sendmsg(a, bytes(1), new Array(254).fill(m), 0)), "EINVAL");
        assert.equal(code(() => k.sendmsg(a, bytes(1), [m, 99999], 0)), "EBADF");
        assert.equal(code(() => k.sendmsg(a, bytes(1), [m, -1], 0)), "EBADF");
        assert.equal(code(() => k.sendmsg(m, bytes(1), [], 0)), "ENOTSOCK");
        assert.equal(code(() => k.sendmsg(99999, bytes(1), [], 0)), "EBADF");
        assert.equal(code(() => k.recvmsg(b, new Uint8Array(1), 1, MSG_DONTWAIT)), "EAGAIN");
        assert.equal(code(() => k.recvmsg(b, new Uint8Array(1), -1, 0)), "EINVAL");
        assert.equal(code(() => k.recvmsg(b, null as never, 1, 0)), "EFAULT");
        assert.equal(code(() => k.sendmsg(a, null as never, [], 0)), "EFAULT");
        assert.equal(code(() => k.sendmsg(a, bytes(1), null as never, 0)), "EINVAL");
        k.sendmsg(a, bytes(1), [m], 0);
        const huge = k.recvmsg(b, new Uint8Array(1), 2 ** 30, 0); // room clamped, no giant buffer
        huge.fds.forEach(open);
        assert.deepEqual([huge.fds.length, huge.flags], [1, 0]);
        // 253 is the limit; a control buffer for 1 fd holds 2 (CMSG_SPACE rounds up to 8).
        assert.equal(k.sendmsg(a, bytes(1), new Array(253).fill(m), 0), 1);
        const r = k.recvmsg(b, new Uint8Array(1), 1, 0);
        r.fds.forEach(open);
        assert.deepEqual([r.fds.length, r.flags], [2, MSG_CTRUNC]);
        k.sendmsg(a, bytes(1), [m], 0);
        const none = k.recvmsg(b, new Uint8Array(1), 0, 0);
        assert.deepEqual([none.fds, none.flags], [[], MSG_CTRUNC]);
      });
    },
  });

  Deno.test({
    name: `[${name}] a stream read glues messages and stops after the one that carried fds`,
    ignore,
    fn() {
      const k = make();
      tracked(k, (open) => {
        const [a, b] = k.socketpair(AF_UNIX, SOCK_STREAM, 0).map(open);
        const m = open(k.memfdCreate("x", 0));
        const rd = (n: number) => {
          const buf = new Uint8Array(n);
          const r = k.recvmsg(b, buf, 2, MSG_DONTWAIT);
          r.fds.forEach(open);
          return [...buf.subarray(0, r.bytes), "|", r.fds.length, r.flags];
        };
        assert.equal(k.sendmsg(a, new Uint8Array(0), [m], 0), 0); // nothing sent
        assert.equal(code(() => rd(8)), "EAGAIN");
        k.sendmsg(a, bytes(1, 2), [m], 0);
        k.sendmsg(a, bytes(3), [], 0);
        k.sendmsg(a, bytes(4), [m], 0);
        k.sendmsg(a, bytes(5), [], 0);
        assert.deepEqual(rd(8), [1, 2, "|", 1, 0]);
        assert.deepEqual(rd(8), [3, 4, "|", 1, 0]);
        assert.deepEqual(rd(8), [5, "|", 0, 0]);
        k.sendmsg(a, bytes(6, 7, 8), [m], 0);
        assert.deepEqual(rd(1), [6, "|", 1, 0]);
        assert.deepEqual(rd(8), [7, 8, "|", 0, 0]);
      });
    },
  });

  Deno.test({
    name: `[${name}] seqpacket keeps boundaries: MSG_TRUNC, fds with an empty message`,
    ignore,
    fn() {
      const k = make();
      tracked(k, (open) => {
        const [a, b] = k.socketpair(AF_UNIX, SOCK_SEQPACKET, 0).map(open);
        const m = open(k.memfdCreate("x", 0));
        k.sendmsg(a, bytes(1, 2, 3), [m], 0);
        const r = k.recvmsg(b, new Uint8Array(1), 1, 0);
        r.fds.forEach(open);
        assert.deepEqual([r.bytes, r.fds.length, r.flags], [1, 1, MSG_TRUNC]);
        assert.equal(k.sendmsg(a, new Uint8Array(0), [m], 0), 0);
        const e = k.recvmsg(b, new Uint8Array(1), 1, 0);
        e.fds.forEach(open);
        assert.deepEqual([e.bytes, e.fds.length, e.flags], [0, 1, 0]);
      });
    },
  });

  Deno.test({
    name:
      `[${name}] a closed peer: EPIPE on send, ECONNRESET once if it left data unread, then EOF`,
    ignore,
    fn() {
      const k = make();
      // A stream send does not look at the pending error; a seqpacket send reports it first.
      const expected = {
        [SOCK_STREAM]: ["EPIPE", "ECONNRESET", "EPIPE", "0"],
        [SOCK_SEQPACKET]: ["ECONNRESET", "EPIPE", "EPIPE", "0"],
      };
      for (const type of [SOCK_STREAM, SOCK_SEQPACKET] as const) {
        const [a, b] = k.socketpair(AF_UNIX, type, 0);
        k.sendmsg(b, bytes(1), [], 0); // lands in a's queue, never read
        k.close(a);
        const recv = () => String(k.recvmsg(b, new Uint8Array(1), 0, MSG_DONTWAIT).bytes);
        const send = () => k.sendmsg(b, bytes(1), [], MSG_NOSIGNAL);
        const seen = type === SOCK_STREAM
          ? [code(send), code(recv), code(send), recv()]
          : [code(send), code(send), code(send), recv()];
        assert.deepEqual(seen, expected[type], `type ${type}`);
        k.close(b);
      }
    },
  });

  Deno.test({
    name: `[${name}] named sockets: bind, listen, connect, accept and their errnos`,
    ignore,
    fn() {
      const k = make();
      tracked(k, (open) => {
        const name1 = uniq();
        const m = open(k.memfdCreate("x", 0));
        const s = () => open(k.socket(AF_UNIX, SOCK_STREAM, 0));
        assert.equal(code(() => k.socket(AF_UNIX, 9, 0)), "ESOCKTNOSUPPORT");
        assert.equal(code(() => k.bind(s(), "/tmp/" + "x".repeat(120))), "EINVAL");
        assert.equal(code(() => k.connect(s(), uniq())), "ECONNREFUSED");
        const l = open(k.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
        k.bind(l, name1);
        assert.equal(code(() => k.bind(l, uniq())), "EINVAL");
        assert.equal(code(() => k.bind(s(), name1)), "EADDRINUSE");
        assert.equal(code(() => k.connect(s(), name1)), "ECONNREFUSED");
        assert.equal(code(() => k.accept(l, 0)), "EINVAL");
        k.listen(l, 4);
        assert.equal(code(() => k.accept(l, 0)), "EAGAIN");
        assert.equal(code(() => k.accept(l, 1)), "EINVAL");
        const c = s();
        k.connect(c, name1);
        assert.equal(code(() => k.connect(c, name1)), "EISCONN");
        const srv = open(k.accept(l, SOCK_CLOEXEC));
        assert.equal(k.fcntl(srv, F_GETFD, 0), FD_CLOEXEC);
        k.sendmsg(c, bytes(5), [m], 0);
        const r = k.recvmsg(srv, new Uint8Array(4), 1, 0);
        r.fds.forEach(open);
        assert.deepEqual([r.bytes, r.fds.length], [1, 1]);
        assert.equal(code(() => k.sendmsg(s(), bytes(1), [], MSG_NOSIGNAL)), "ENOTCONN");
        assert.equal(code(() => k.recvmsg(s(), new Uint8Array(1), 0, MSG_DONTWAIT)), "EINVAL");
        const sp = open(k.socket(AF_UNIX, SOCK_SEQPACKET, 0));
        assert.equal(code(() => k.sendmsg(sp, bytes(1), [], MSG_NOSIGNAL)), "ENOTCONN");
        // An abstract lookup includes the type: a seqpacket connect does not find a stream socket.
        assert.equal(code(() => k.connect(sp, name1)), "ECONNREFUSED");
        assert.equal(code(() => k.listen(srv, 1)), "EINVAL");
        assert.equal(code(() => k.listen(m, 1)), "ENOTSOCK");
        assert.equal(code(() => k.accept(m, 0)), "ENOTSOCK");
        assert.equal(code(() => k.connect(m, name1)), "ENOTSOCK");
        const d = open(k.socket(AF_UNIX, SOCK_DGRAM, 0));
        k.bind(d, uniq());
        assert.equal(code(() => k.listen(d, 1)), "EOPNOTSUPP");
        k.close(l);
        assert.equal(code(() => k.connect(s(), name1)), "ECONNREFUSED"); // abstract name gone
        const again = s();
        k.bind(again, name1); // … and free again
      });
    },
  });

  Deno.test({
    name: `[${name}] pidfd_open() and pidfd_getfd() on this process and their errnos`,
    ignore,
    fn() {
      const k = make();
      tracked(k, (open) => {
        const pid = k.getpid();
        const m = open(k.memfdCreate("taken", 0));
        assert.equal(code(() => k.pidfdOpen(pid, 1)), "EINVAL");
        assert.equal(code(() => k.pidfdOpen(0, 0)), "EINVAL");
        assert.equal(code(() => k.pidfdOpen(-1, 0)), "EINVAL");
        assert.equal(code(() => k.pidfdOpen(4000000, 0)), "ESRCH");
        const p = open(k.pidfdOpen(pid, 0));
        assert.equal(k.fcntl(p, F_GETFD, 0), FD_CLOEXEC);
        assert.equal(k.readLink(`/proc/self/fd/${p}`), "anon_inode:[pidfd]");
        assert.match(k.readText(`/proc/self/fdinfo/${p}`), new RegExp(`\\nPid:\\t${pid}\\n`));
        assert.equal(code(() => k.pidfdGetfd(p, m, 1)), "EINVAL");
        assert.equal(code(() => k.pidfdGetfd(p, 99999, 0)), "EBADF");
        assert.equal(code(() => k.pidfdGetfd(99999, m, 0)), "EBADF");
        assert.equal(code(() => k.pidfdGetfd(m, m, 0)), "EBADF");
        const got = open(k.pidfdGetfd(p, m, 0));
        assert.equal(k.fcntl(got, F_GETFD, 0), FD_CLOEXEC);
        assert.equal(k.readLink(`/proc/self/fd/${got}`), k.readLink(`/proc/self/fd/${m}`));
      });
    },
  });
}

// ---------------------------------------------------------------- two simulated processes

function twoProcesses(a = {}, b = {}) {
  const m = createSimMachine();
  return { m, camera: m.process("camera", a), display: m.process("display", b) };
}

const countOf = (k: Kernel, fd: number) =>
  Number(/\ncount:\t(\d+)/.exec(k.readText(`/proc/self/fdinfo/${fd}`))![1]);

Deno.test("[sim] sendDmaBuf() moves a buffer to another process; in flight it counts once more", async () => {
  const { camera, display } = twoProcesses();
  const name = "\0frames";
  using listener = UnixListener.listen(name, { kernel: display });
  using out = UnixSocket.connect(name, { kernel: camera });
  using inbox = await listener.acceptAsync(1000);
  using heap = openHeap("system", { kernel: camera });
  const frame = heap.allocate(3 * 4096, { name: "frame-0" });
  const mapping = frame.map();
  mapping.write((b) => b.set([1, 2, 3]));
  mapping.unmap();
  assert.equal(countOf(camera, frame.fd), 1);
  sendDmaBuf(out, frame);
  assert.equal(countOf(camera, frame.fd), 2); // the message holds a reference
  assert.equal(await inbox.readable(1000), true);
  const got = receiveDmaBuf(inbox);
  assert.equal(countOf(camera, frame.fd), 2); // camera's fd + display's fd
  assert.equal(got.info().inode, frame.info().inode);
  assert.equal(got.name, "frame-0");
  const view = got.map();
  view.read((b) => assert.deepEqual([...b.subarray(0, 3)], [1, 2, 3]));
  assert.equal(got.info().count, 3); // + the mapping
  view.unmap();
  frame.close();
  assert.equal(got.info().count, 1);
  got.close();
});

Deno.test("[sim] a message never received releases its reference when the receiver closes", () => {
  const { camera, display } = twoProcesses();
  using listener = UnixListener.listen("\0q", { kernel: display });
  const out = UnixSocket.connect("\0q", { kernel: camera });
  const inbox = listener.accept();
  using heap = openHeap("system", { kernel: camera });
  using frame = heap.allocate(4096);
  sendDmaBuf(out, frame);
  sendDmaBuf(out, frame);
  assert.equal(frame.info().count, 3);
  assert.match(display.readText(`/proc/self/fdinfo/${inbox.fd}`), /scm_fds: 2\n/);
  inbox.close();
  assert.equal(frame.info().count, 1);
  // Seqpacket: the pending ECONNRESET (closed with messages unread) first, then EPIPE.
  assert.equal(code(() => sendDmaBuf(out, frame)), "ECONNRESET");
  assert.equal(code(() => sendDmaBuf(out, frame)), "EPIPE");
  out.close();
});

Deno.test("[sim] receiveDmaBuf() reports EOF, stray messages and non-dma-buf fds", () => {
  const k = createSimMachine().process();
  const [a, b] = UnixSocket.pair({ kernel: k });
  assert.equal(code(() => receiveDmaBuf(b)), "EAGAIN");
  a.send(bytes(1, 2, 3));
  assert.equal(code(() => receiveDmaBuf(b)), "EBADMSG");
  const m = k.memfdCreate("not-a-dmabuf", 0);
  const fdsBefore = k.readDir("/proc/self/fd").length;
  a.send(new TextEncoder().encode("DMABUF\x01\0\0\0\0\0\0\0\0\0"), [m]);
  assert.equal(code(() => receiveDmaBuf(b)), "EBADMSG");
  assert.equal(k.readDir("/proc/self/fd").length, fdsBefore); // the received fd was closed
  k.close(m);
  a.close();
  assert.equal(code(() => receiveDmaBuf(b)), "ECONNRESET");
  b.close();
  assert.equal(code(() => b.receive()), "EBADF");
});

Deno.test("[sim] takeDmaBuf() needs ptrace access: EPERM across uids or from a non-dumpable process", () => {
  const { m, camera, display } = twoProcesses({ uid: 1000 }, { uid: 1001 });
  using heap = openHeap("system", { kernel: camera });
  using buf = heap.allocate(4096);
  assert.equal(code(() => takeDmaBuf(camera.pid, buf.fd, { kernel: display })), "EPERM");
  assert.equal(code(() => display.readText(`/proc/${camera.pid}/fdinfo/${buf.fd}`)), "EACCES");
  assert.equal(display.readText(`/proc/${camera.pid}/comm`), "camera\n");
  const sibling = m.process("sibling", { uid: 1000 });
  using mine = takeDmaBuf(camera.pid, buf.fd, { kernel: sibling });
  assert.equal(mine.info().count, 2);
  camera.dumpable = false;
  assert.equal(code(() => takeDmaBuf(camera.pid, buf.fd, { kernel: sibling })), "EPERM");
  const root = m.process("root");
  using rootCopy = takeDmaBuf(camera.pid, buf.fd, { kernel: root });
  assert.equal(rootCopy.info().count, 3);
  assert.equal(code(() => takeDmaBuf(camera.pid, 99, { kernel: root })), "EBADF");
  const memfd = camera.memfdCreate("plain", 0);
  assert.equal(code(() => takeDmaBuf(camera.pid, memfd, { kernel: root })), "EINVAL");
});

Deno.test("[sim] exit() closes the fds and unmaps; the pid is gone (ESRCH) and /proc forgets it", () => {
  const { m, camera, display } = twoProcesses();
  const heap = openHeap("system", { kernel: camera });
  const buf = heap.allocate(8192);
  buf.map();
  const pidfd = display.pidfdOpen(camera.pid, 0);
  using copy = takeDmaBuf(camera.pid, buf.fd, { kernel: display });
  assert.equal(copy.info().count, 3); // camera fd + mapping + display fd
  assert.ok(display.readDir("/proc").includes(String(camera.pid)));
  camera.exit();
  assert.equal(copy.info().count, 1);
  assert.equal(display.poll([{ fd: pidfd, events: 1 }], 0)[0], 1); // pidfd readable
  assert.match(display.readText(`/proc/self/fdinfo/${pidfd}`), /\nPid:\t-1\n/);
  assert.equal(code(() => display.pidfdGetfd(pidfd, 3, 0)), "ESRCH");
  assert.equal(code(() => display.pidfdOpen(camera.pid, 0)), "ESRCH");
  assert.equal(code(() => display.readText(`/proc/${camera.pid}/comm`)), "ENOENT");
  assert.equal(display.readDir("/proc").includes(String(camera.pid)), false);
  assert.equal(code(() => camera.getpid()), "ESRCH");
  assert.deepEqual(m.processes.map((p) => p.pid), [display.pid]);
  display.close(pidfd);
});

Deno.test("[sim] dmabufDump() sees every process: a passed buffer is shared by both pids", () => {
  const { m, camera, display } = twoProcesses();
  const [a, b] = UnixSocket.pair({ kernel: camera });
  // Give one end to the display process, as a parent would before exec.
  const bInDisplay = UnixSocket.adopt(display, takeFd(display, camera.pid, b.fd));
  b.close();
  using heap = openHeap("system", { kernel: camera });
  using frame = heap.allocate(16384, { name: "shared" });
  sendDmaBuf(a, frame);
  using got = receiveDmaBuf(bInDisplay);
  using _map = got.map();
  const d = dmabufDump({ reader: m.process("dumper"), sysfsRoot: null });
  assert.equal(d.scope, "all");
  const row = d.buffers.find((x) => x.name === "shared")!;
  assert.deepEqual(row.pids, [camera.pid, display.pid]);
  assert.deepEqual(row.fdRefs, { [camera.pid]: 1, [display.pid]: 1 });
  assert.deepEqual(row.mapRefs, { [display.pid]: 1 });
  assert.equal(row.pss, 8192);
  assert.equal(row.count, 3);
  const names = Object.fromEntries(d.processes.map((p) => [p.pid, p.name]));
  assert.deepEqual([names[camera.pid], names[display.pid]], ["camera", "display"]);
  a.close();
  bInDisplay.close();
});

function takeFd(k: Kernel, pid: number, fd: number): number {
  const p = k.pidfdOpen(pid, 0);
  try {
    return k.pidfdGetfd(p, fd, 0);
  } finally {
    k.close(p);
  }
}

Deno.test("[sim] Worker handles are refused on the simulated kernel (a Worker has its own machine)", () => {
  const k = createSimMachine().process();
  using heap = openHeap("system", { kernel: k });
  using buf = heap.allocate(4096);
  assert.throws(() => toWorkerHandle(buf), {
    code: "EOPNOTSUPP",
    message: /own simulated machine/,
  });
  assert.equal(buf.closed, false);
  assert.equal(
    code(() =>
      fromWorkerHandle({ kind: "dmabuf-fd", fd: buf.fd, pid: k.getpid(), size: 4096 }, {
        kernel: k,
      })
    ),
    "EOPNOTSUPP",
  );
});

// ---------------------------------------------------------------- real Linux, this host

Deno.test({
  name: "[linux] a Worker takes a memfd by fd number, reads what the main thread wrote, closes it",
  ignore: NO_LINUX !== undefined,
  async fn() {
    const k = linuxKernel();
    const fd = k.memfdCreate("to-worker", 0);
    k.ftruncate(fd, k.pageSize);
    const w = k.mmap(fd, k.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    new Uint8Array(w.buffer).set([4, 2]);
    k.munmap(w);
    const linux = new URL("../src/kernel/linux.ts", import.meta.url).href;
    const code = `
      import { linuxKernel } from "${linux}";
      self.onmessage = ({ data }) => {
        const k = linuxKernel();
        const r = k.mmap(data.fd, k.pageSize, 1, 1, 0);
        const got = [...new Uint8Array(r.buffer, 0, 2)];
        k.munmap(r);
        const link = k.readLink("/proc/self/fd/" + data.fd);
        k.close(data.fd);
        self.postMessage({ got, link, pid: k.getpid() });
      };`;
    const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
    const worker = new Worker(url, { type: "module" });
    try {
      const reply = await new Promise<{ got: number[]; link: string; pid: number }>((res, rej) => {
        worker.onmessage = (e) => res(e.data);
        worker.onerror = (e) => (e.preventDefault(), rej(new Error(e.message)));
        worker.postMessage({ fd });
      });
      assert.deepEqual(reply.got, [4, 2]);
      assert.match(reply.link, /^\/memfd:to-worker/);
      assert.equal(reply.pid, k.getpid()); // one process, one fd table
      assert.throws(() => k.fcntl(fd, F_GETFD, 0), { code: "EBADF" }); // the Worker closed it
    } finally {
      worker.terminate();
      URL.revokeObjectURL(url);
    }
  },
});

Deno.test({
  name: "[linux] fromWorkerHandle() refuses another process's fd (EXDEV) and non-dma-bufs (EINVAL)",
  ignore: NO_LINUX !== undefined,
  fn() {
    const k = linuxKernel();
    const fd = k.memfdCreate("plain", 0);
    try {
      const h = { kind: "dmabuf-fd" as const, fd, pid: k.getpid(), size: 0 };
      assert.equal(
        code(() => fromWorkerHandle({ ...h, pid: k.getpid() + 1 }, { kernel: k })),
        "EXDEV",
      );
      assert.equal(code(() => fromWorkerHandle(h, { kernel: k })), "EINVAL");
      assert.equal(code(() => fromWorkerHandle({} as never, { kernel: k })), "EINVAL");
    } finally {
      k.close(fd);
    }
  },
});

Deno.test({
  name: "[linux] UnixSocket.pair() carries a memfd between two fds of this process",
  ignore: NO_LINUX !== undefined,
  async fn() {
    const k = linuxKernel();
    const [a, b] = UnixSocket.pair({ kernel: k });
    const m = k.memfdCreate("pair", 0);
    try {
      assert.equal(await b.readable(10), false);
      a.send(bytes(9), [m]);
      assert.equal(await b.readable(1000), true);
      const r = b.receive();
      assert.deepEqual([[...r.data], r.fds.length, r.truncated, r.fdsTruncated], [
        [9],
        1,
        false,
        false,
      ]);
      assert.equal(k.fcntl(r.fds[0], F_GETFD, 0), FD_CLOEXEC);
      k.close(r.fds[0]);
    } finally {
      k.close(m);
      a.close();
      b.close();
    }
  },
});

Deno.test("SCM_RIGHTS layouts: one fd is cmsg_len 20 in a 24-byte control buffer", async () => {
  const s = await import("../src/uapi/socket.ts");
  assert.deepEqual([s.CMSG_LEN(4), s.CMSG_SPACE(4), s.CMSG_LEN(8), s.CMSG_SPACE(8)], [
    20,
    24,
    24,
    24,
  ]);
  assert.deepEqual([s.scmCapacity(0), s.scmCapacity(1), s.scmCapacity(2), s.scmCapacity(3)], [
    0,
    2,
    2,
    4,
  ]);
  assert.deepEqual(s.MSGHDR, {
    size: 56,
    msg_name: 0,
    msg_namelen: 8,
    msg_iov: 16,
    msg_iovlen: 24,
    msg_control: 32,
    msg_controllen: 40,
    msg_flags: 48,
  });
  assert.deepEqual([s.CMSGHDR.size, s.CMSGHDR.cmsg_level, s.CMSGHDR.cmsg_type], [16, 8, 12]);
  assert.deepEqual([s.IOVEC.size, s.SOCKADDR_UN.size, s.SCM_MAX_FD], [16, 110, 253]);
  assert.deepEqual([s.SYS_pidfd_open, s.SYS_pidfd_getfd, s.MSG_CMSG_CLOEXEC], [
    434,
    438,
    0x40000000,
  ]);
});

Deno.test("[sim] takeDmaBuf() errors name the owner's pid and fd, not the taker's temporary fd", () => {
  const m = createSimMachine();
  const owner = m.process("owner"), taker = m.process("taker");
  const before = taker.readDir("/proc/self/fd");
  assert.throws(() => takeDmaBuf(owner.pid, 999, { kernel: taker }), (e: Error) => {
    assert.equal((e as { code?: string }).code, "EBADF");
    assert.match(
      e.message,
      new RegExp(`on /proc/${owner.pid}/fd/999: fd 999 is not open in process ${owner.pid}`),
    );
    return true;
  });
  assert.throws(() => takeDmaBuf(owner.pid, 0, { kernel: taker }), (e: Error) => {
    assert.equal((e as { code?: string }).code, "EINVAL");
    assert.match(
      e.message,
      new RegExp(`on /proc/${owner.pid}/fd/0: fd 0 of process ${owner.pid} is not a dma-buf`),
    );
    return true;
  });
  assert.deepEqual(taker.readDir("/proc/self/fd"), before, "nothing left open");
});

Deno.test("[sim] connect to a name nobody listens on says that a simulated kernel is per process", () => {
  const k = createSimMachine().process();
  assert.throws(() => UnixSocket.connect("\0frames", { kernel: k }), (e: Error) => {
    assert.equal((e as { code?: string }).code, "ECONNREFUSED");
    assert.match(
      e.message,
      /on @frames: Connection refused\. .*simulated kernel.*another `deno run`/,
    );
    return true;
  });
});
