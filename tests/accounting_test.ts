/**
 * Accounting readers on the synthetic tree in `fixtures/accounting/basic` (see its README for
 * the machine it describes) and, live, on this process's own `/proc/self`.
 */
import assert from "node:assert/strict";
import {
  denoFsReader,
  dmabufDump,
  type FsReader,
  parseBufinfo,
  PTRACE_HINT,
  readBufinfo,
  readFdRefs,
  readMapRefs,
  readSysfsBuffers,
} from "../src/accounting/mod.ts";
import { errnoError } from "../src/errors.ts";
import { Errno } from "../src/uapi/errno.ts";
import { linuxKernel } from "../src/kernel/linux.ts";
import { parseFdinfo } from "../src/dmabuf/fdinfo.ts";
import { openHeap } from "../src/heaps/heap.ts";
import { _IOW, _IOWR } from "../src/uapi/ioctl.ts";
import { O_CLOEXEC, O_RDWR } from "../src/uapi/constants.ts";

const ROOT = new URL("./fixtures/accounting/basic/", import.meta.url).pathname;
const procRoot = `${ROOT}proc`;
const sysfsRoot = `${ROOT}sys`;
const debugfsRoot = `${ROOT}debug`;

/** The fixture tree, with every file of pid 300 refused as the kernel refuses a stranger. */
function withRefusal(inner: FsReader, prefix: string, errno: number = Errno.EACCES): FsReader {
  const guard = (path: string, syscall: string) => {
    if (path.startsWith(prefix)) throw errnoError(errno, syscall, { path });
  };
  return {
    readDir: (p) => (guard(p, "opendir"), inner.readDir(p)),
    readText: (p) => (guard(p, "open"), inner.readText(p)),
  };
}

const fixture = withRefusal(denoFsReader(), `${procRoot}/300/`);

/** `inner`, plus fd 9 of pid 100: listed by readdir, then gone (ENOENT) when opened. */
function racing(inner: FsReader): FsReader {
  const dir = `${procRoot}/100/fdinfo`;
  return {
    readDir: (p) => p === dir ? [...inner.readDir(p), "9"] : inner.readDir(p),
    readText: (p) => {
      if (p === `${dir}/9`) throw errnoError(Errno.ENOENT, "open", { path: p });
      return inner.readText(p);
    },
  };
}

Deno.test("readFdRefs() keeps dma-buf fds, skips other fds and fds closed mid-scan", () => {
  const reader = racing(fixture);
  assert.deepEqual(reader.readDir(`${procRoot}/100/fdinfo`), ["0", "5", "6", "7", "9"]);
  const refs = readFdRefs(100, { procRoot, reader });
  assert.deepEqual(refs.map((r) => [r.fd, r.inode, r.size, r.exporter, r.name]), [
    [5, 11, 1048576, "system", "frame-0"],
    [6, 11, 1048576, "system", "frame-0"],
    [7, 12, 65536, "reserved", undefined],
  ]);
  assert.equal(refs[0].count, 4);
  assert.equal(refs[0].flags, 0o2000002);
});

Deno.test("dmabufDump() is not disturbed by an fd closed mid-scan", () => {
  const opts = { procRoot, sysfsRoot: null, debugfsRoot: null };
  const raced = dmabufDump({ ...opts, reader: racing(fixture) });
  const calm = dmabufDump({ ...opts, reader: fixture });
  assert.deepEqual(raced, calm);
  assert.deepEqual(raced.unreadable.map((u) => u.pid), [300]);
});

Deno.test("readFdRefs() ignores an eventfd whose fdinfo has no exp_name", () => {
  const refs = readFdRefs(200, { procRoot, reader: fixture });
  assert.deepEqual(refs.map((r) => r.fd), [3]);
});

Deno.test("readFdRefs() reports EACCES with the ptrace hint", () => {
  assert.throws(() => readFdRefs(300, { procRoot, reader: fixture }), (e: unknown) => {
    assert.ok(e instanceof Deno.errors.PermissionDenied);
    assert.equal((e as { code?: string }).code, "EACCES");
    assert.match(e.message, /requires PTRACE_MODE_READ or root/);
    return true;
  });
});

Deno.test("readFdRefs() reports a missing process as NotFound and a bad pid as EINVAL", () => {
  assert.throws(() => readFdRefs(400, { procRoot, reader: fixture }), { code: "ENOENT" });
  assert.throws(() => readFdRefs(-1, { procRoot, reader: fixture }), { code: "EINVAL" });
  assert.throws(() => readFdRefs(1.5, { procRoot, reader: fixture }), { code: "EINVAL" });
});

Deno.test("readMapRefs() keeps /dmabuf: mappings only, with their inode and length", () => {
  const a = readMapRefs(100, { procRoot, reader: fixture });
  assert.deepEqual(a.map((r) => [r.inode, r.name, r.length, r.perms]), [
    [11, "frame-0", 1048576, "rw-s"],
  ]);
  const b = readMapRefs(200, { procRoot, reader: fixture });
  assert.deepEqual(b.map((r) => [r.inode, r.name, r.length]), [[13, "", 8192]]);
});

Deno.test("readSysfsBuffers() reads every buffer's exporter and size", () => {
  const bufs = readSysfsBuffers({ sysfsRoot, reader: fixture });
  assert.deepEqual(bufs.map((b) => [b.inode, b.exporter, b.size]), [
    [11, "system", 1048576],
    [12, "reserved", 65536],
    [13, "system", 16384],
    [14, "system", 4194304],
    [15, "system", 8192],
  ]);
  assert.throws(() => readSysfsBuffers({ sysfsRoot: `${ROOT}nope`, reader: fixture }), {
    code: "ENOENT",
  });
});

Deno.test("readBufinfo() parses rows, fences, attachments and the trailer", () => {
  const info = readBufinfo({ debugfsRoot, reader: fixture });
  assert.deepEqual(info.buffers.map((b) => b.inode), [15, 14, 13, 12, 11]);
  const k = info.buffers[1];
  assert.equal(k.name, "kernel-only");
  assert.deepEqual(k.attachments, ["vgem"]);
  assert.deepEqual(k.fences, [
    { usage: "kernel", driver: "vgem", timeline: "vgem-timeline", seqno: 3, signalled: true },
    { usage: "write", driver: "vgem", timeline: "vgem-timeline", seqno: 4, signalled: false },
  ]);
  assert.deepEqual(info.buffers[3].attachments, ["vivid-000-vid-cap", "vgem"]);
  assert.equal(info.buffers[4].count, 4);
  assert.equal(info.buffers[0].name, null);
  assert.equal(info.totalObjects, 5);
  assert.equal(info.totalBytes, info.buffers.reduce((s, b) => s + b.size, 0));
});

Deno.test("parseBufinfo() rejects text that is not bufinfo with EINVAL", () => {
  assert.throws(() => parseBufinfo("hello\n"), { code: "EINVAL" });
  assert.deepEqual(parseBufinfo("\nDma-buf Objects:\n\nTotal 0 objects, 0 bytes\n").buffers, []);
});

Deno.test("dmabufDump() charges shared buffers by PSS and lists unreadable pids", () => {
  const dump = dmabufDump({ procRoot, sysfsRoot, debugfsRoot, reader: fixture });
  assert.deepEqual(dump.buffers.map((b) => [b.inode, b.size, b.sizeFrom, b.pids, b.pss]), [
    [11, 1048576, "fdinfo", [100, 200], 524288],
    [12, 65536, "fdinfo", [100], 65536],
    [13, 16384, "sysfs", [200], 16384],
  ]);
  const shared = dump.buffers[0];
  assert.deepEqual(shared.fdRefs, { 100: 2, 200: 1 });
  assert.deepEqual(shared.mapRefs, { 100: 1 });
  assert.equal(shared.count, 4);
  assert.equal(dump.buffers[2].count, 1, "mapped-only buffer's count comes from bufinfo");
  assert.deepEqual(dump.processes.map((p) => [p.pid, p.name, p.rss, p.pss]), [
    [100, "camera", 1048576 + 65536, 524288 + 65536],
    [200, "compositor", 1048576 + 16384, 524288 + 16384],
  ]);
  assert.deepEqual(dump.unreadable.map((u) => [u.pid, u.code, u.reason]), [
    [300, "EACCES", PTRACE_HINT],
  ]);
  assert.deepEqual(dump.vanished, [400]);
  assert.deepEqual(dump.sources, { sysfs: "ok", debugfs: "ok" });
  const sizes = [1048576, 65536, 16384, 4194304, 8192];
  const userspace = 1048576 + 65536 + 16384;
  assert.equal(dump.totals.userspaceRss, userspace);
  assert.equal(dump.totals.userspacePss, userspace, "PSS sums to RSS over all holders");
  assert.equal(dump.totals.exportedBytes, sizes.reduce((a, b) => a + b));
  assert.equal(dump.totals.kernelRss, 4194304 + 8192);
});

Deno.test("dmabufDump() lists every exported buffer, kernel-only ones too, per exporter", () => {
  const dump = dmabufDump({ procRoot, sysfsRoot, debugfsRoot, reader: fixture });
  assert.deepEqual(
    dump.exported?.map((b) => [b.inode, b.size, b.exporter, b.name, b.pids, b.attachments]),
    [
      [11, 1048576, "system", "frame-0", [100, 200], []],
      [12, 65536, "reserved", null, [100], ["vivid-000-vid-cap", "vgem"]],
      [13, 16384, "system", null, [200], []],
      [14, 4194304, "system", "kernel-only", [], ["vgem"]],
      [15, 8192, "system", null, [], []], // its holder, pid 300, could not be read
    ],
  );
  assert.deepEqual(dump.exporters, [
    { exporter: "system", buffers: 4, bytes: 1048576 + 16384 + 4194304 + 8192 },
    { exporter: "reserved", buffers: 1, bytes: 65536 },
  ]);
  const sysfsOnly = dmabufDump({ procRoot, sysfsRoot, debugfsRoot: null, reader: fixture });
  assert.deepEqual(sysfsOnly.exported?.[3], {
    inode: 14,
    size: 4194304,
    exporter: "system",
    name: null,
    count: null,
    attachments: null,
    pids: [],
  });
  const neither = dmabufDump({ procRoot, sysfsRoot: null, debugfsRoot: null, reader: fixture });
  assert.equal(neither.exported, null);
  assert.equal(neither.exporters, null);
});

Deno.test("dmabufDump() without sysfs and debugfs sizes a mapped-only buffer by its VMAs", () => {
  const dump = dmabufDump({
    procRoot,
    sysfsRoot: `${ROOT}missing-sys`,
    debugfsRoot: null,
    reader: fixture,
  });
  const mappedOnly = dump.buffers.find((b) => b.inode === 13)!;
  assert.equal(mappedOnly.size, 8192);
  assert.equal(mappedOnly.sizeFrom, "maps");
  assert.equal(mappedOnly.exporter, "<unknown>");
  assert.equal(mappedOnly.count, null);
  assert.deepEqual(dump.sources, { sysfs: "ENOENT", debugfs: "skipped" });
  assert.equal(dump.totals.exportedBytes, null);
  assert.equal(dump.totals.kernelRss, null);
});

Deno.test("dmabufDump({ pid }) reads one process, and reports a missing one", () => {
  const one = dmabufDump({ pid: 200, procRoot, sysfsRoot, debugfsRoot, reader: fixture });
  assert.deepEqual(one.processes.map((p) => p.pid), [200]);
  assert.deepEqual(one.buffers.map((b) => [b.inode, b.pss]), [[11, 1048576], [13, 16384]]);
  const gone = dmabufDump({
    pid: 400,
    procRoot,
    sysfsRoot: null,
    debugfsRoot: null,
    reader: fixture,
  });
  assert.deepEqual(gone.unreadable.map((u) => [u.pid, u.code]), [[400, "ENOENT"]]);
  assert.deepEqual(gone.processes, []);
});

Deno.test("dmabufDump() treats an EPERM maps file like EACCES", () => {
  const reader = withRefusal(denoFsReader(), `${procRoot}/100/maps`, Errno.EPERM);
  const dump = dmabufDump({ pid: 100, procRoot, sysfsRoot: null, debugfsRoot: null, reader });
  assert.deepEqual(dump.unreadable.map((u) => [u.code, u.reason, u.path]), [
    ["EPERM", PTRACE_HINT, `${procRoot}/100/maps`],
  ]);
  // What could be read (the fds) is still accounted.
  assert.deepEqual(dump.buffers.map((b) => b.inode), [11, 12]);
});

function hasExporters(): boolean {
  const k = linuxKernel();
  for (const path of ["/dev/dma_heap", "/dev/udmabuf", "/dev/dri"]) {
    try {
      k.readDir(path);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === "ENOTDIR") return true;
    }
  }
  return false;
}

const live = Deno.build.os === "linux" &&
  Deno.permissions.querySync({ name: "ffi" }).state === "granted";

Deno.test({
  name: "readFdRefs('self') on this host's /proc finds no dma-buf and skips a plain file fd",
  ignore: !live,
  fn() {
    const kernel = linuxKernel();
    using _file = Deno.openSync(new URL(import.meta.url).pathname);
    const fds = kernel.readDir("/proc/self/fdinfo").map(Number);
    assert.ok(fds.length >= 3, "the reader sees this process's fds");
    // At least one of them is the file just opened: a non-dma-buf whose fdinfo parses to nothing.
    const plain = fds.filter((fd) => {
      try {
        return parseFdinfo(kernel.readText(`/proc/self/fdinfo/${fd}`)) === undefined;
      } catch {
        return false;
      }
    });
    assert.ok(plain.length >= 1);
    const refs = readFdRefs("self", { reader: kernel });
    assert.deepEqual(refs.filter((r) => plain.includes(r.fd)), []);
    assert.equal(refs.every((r) => r.exporter.length > 0), true);
    if (!hasExporters()) assert.deepEqual(refs, [], "no exporter on this host, so no dma-buf");
    assert.deepEqual(readMapRefs("self", { reader: kernel }), []);
    const dump = dmabufDump({ pid: Deno.pid, reader: kernel });
    assert.deepEqual(dump.unreadable, []);
    assert.equal(dump.totals.userspaceRss, refs.reduce((s, r) => s + r.size, 0));
  },
});

/** Why the real-kernel tests cannot run here, or undefined when `/dev/dma_heap/system` opens. */
function noRealHeap(): string | undefined {
  if (!live) return "not Linux, or no --allow-ffi";
  try {
    const k = linuxKernel();
    k.close(k.open("/dev/dma_heap/system", 0));
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
const NO_HEAP = noRealHeap();

Deno.test({
  name: "[linux] dmabufDump() sees this process's fds, dups and mappings of a real buffer",
  ignore: NO_HEAP !== undefined,
  fn() {
    const kernel = linuxKernel();
    using heap = openHeap("system", { kernel });
    using buf = heap.allocate(3 * 4096, { name: "acct-live" });
    using _dup = buf.dup();
    using _map = buf.map({ length: 4096 });
    const inode = buf.info().inode;
    const dump = dmabufDump({ pid: Deno.pid, reader: kernel });
    const b = dump.buffers.find((x) => x.inode === inode);
    assert.ok(b, `inode ${inode} in ${JSON.stringify(dump.buffers)}`);
    assert.equal(b.size, 3 * 4096);
    assert.equal(b.name, "acct-live");
    assert.equal(b.exporter, "system");
    assert.deepEqual(b.fdRefs, { [Deno.pid]: 2 });
    assert.deepEqual(b.mapRefs, { [Deno.pid]: 1 });
    assert.equal(b.count, 3, "two fds and one mapping");
    const maps = readMapRefs("self", { reader: kernel }).filter((m) => m.inode === inode);
    assert.deepEqual(maps.map((m) => [m.name, m.length]), [["acct-live", 4096]]);
  },
});

Deno.test({
  name: "[linux] dmabufDump() sees a buffer held by another process (dmabuf alloc --hold)",
  ignore: NO_HEAP !== undefined ||
    Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state !== "granted",
  async fn() {
    const cli = new URL("../cli.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        cli,
        "alloc",
        "--size",
        "64k",
        "--name",
        "other-proc",
        "--hold",
        "--json",
      ],
      env: { DMABUF_KERNEL: "linux", NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let err = "";
    while (!err.includes("Holding")) {
      const { value, done } = await reader.read();
      if (done) break;
      err += value;
    }
    const pid = Number(/in pid (\d+)/.exec(err)?.[1]);
    assert.equal(pid, child.pid);
    try {
      const dump = dmabufDump({ reader: linuxKernel() });
      const held = dump.buffers.find((b) => b.name === "other-proc");
      assert.ok(held, JSON.stringify(dump.buffers));
      assert.deepEqual(held.pids, [child.pid]);
      assert.equal(held.size, 65536);
      assert.ok(dump.processes.some((p) => p.pid === child.pid && p.rss >= 65536));
    } finally {
      await child.stdin.close();
      const [status] = await Promise.all([child.status, child.stdout.cancel(), reader.cancel()]);
      assert.equal(status.code, 0);
    }
  },
});

/** Why the vgem test cannot run, or undefined when /dev/dri/card0 is vgem and a heap opens. */
function noVgem(): string | undefined {
  if (NO_HEAP) return NO_HEAP;
  try {
    const uevent = linuxKernel().readText("/sys/class/drm/card0/device/uevent");
    return uevent.includes("vgem") ? undefined : "card0 is not vgem";
  } catch (e) {
    return (e as Error).message;
  }
}

/** `DRM_IOCTL_PRIME_FD_TO_HANDLE`: `_IOWR('d', 0x2e, struct drm_prime_handle)` (12 bytes). */
const DRM_IOCTL_PRIME_FD_TO_HANDLE = _IOWR("d", 0x2e, 12);
/** `DRM_IOCTL_GEM_CLOSE`: `_IOW('d', 0x09, struct drm_gem_close)` (8 bytes). */
const DRM_IOCTL_GEM_CLOSE = _IOW("d", 0x09, 8);

Deno.test({
  name: "[linux] a buffer only vgem holds is exported, held by no process, and in kernel_rss",
  ignore: noVgem() !== undefined,
  fn() {
    assert.equal(DRM_IOCTL_PRIME_FD_TO_HANDLE, 0xc00c642e);
    const k = linuxKernel();
    using heap = openHeap("system", { kernel: k });
    const buf = heap.allocate(65536, { name: "vgem-only" });
    const inode = buf.info().inode;
    const card = k.open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
    try {
      // struct drm_prime_handle { u32 handle; u32 flags; s32 fd; }
      const prime = k.userBuffer(12);
      prime.view.setInt32(8, buf.fd, true);
      k.ioctl(card, DRM_IOCTL_PRIME_FD_TO_HANDLE, prime, "DRM_IOCTL_PRIME_FD_TO_HANDLE");
      const handle = prime.view.getUint32(0, true);
      buf.close(); // now only vgem's GEM object holds the buffer
      const dump = dmabufDump({ reader: k });
      assert.equal(dump.buffers.some((b) => b.inode === inode), false, "no process holds it");
      const e = dump.exported?.find((b) => b.inode === inode);
      assert.ok(e, `inode ${inode} exported: ${JSON.stringify(dump.exported)}`);
      assert.deepEqual([e.size, e.name, e.pids], [65536, "vgem-only", []]);
      // The references are DRM's own (the import, its prime handle cache, …): 3 seen on 6.12.117.
      assert.ok((e.count ?? 0) >= 1, `count ${e.count}`);
      assert.equal(e.attachments?.length, 1, "vgem attached at import");
      assert.ok((dump.totals.kernelRss ?? 0) >= 65536);
      const close = k.userBuffer(8);
      close.view.setUint32(0, handle, true);
      k.ioctl(card, DRM_IOCTL_GEM_CLOSE, close, "DRM_IOCTL_GEM_CLOSE");
      const after = dmabufDump({ reader: k });
      assert.equal(after.exported?.some((b) => b.inode === inode), false, "released");
    } finally {
      k.close(card);
      buf.close();
    }
  },
});
