/**
 * The `./drm` API against vgem: on a fresh simulated machine always, and on the real kernel when
 * it is the kernel in use and has vgem (the Debian guest: `modprobe vgem`).
 */
import assert from "node:assert/strict";
import { ErrnoError, openHeap } from "../mod.ts";
import { getKernel, type Kernel } from "../src/kernel/mod.ts";
import { listDrmDevices, openDrmDevice, VgemFence } from "../src/drm/mod.ts";
import { createSimMachine } from "../src/sim/mod.ts";
import { POLLIN, POLLOUT } from "../src/uapi/constants.ts";

function linuxVgem(): Kernel | undefined {
  const k = getKernel();
  if (k.kind !== "linux") return undefined;
  try {
    openDrmDevice({ driver: "vgem", kernel: k }).close();
    return k;
  } catch {
    return undefined;
  }
}

const kernels: [string, () => Kernel | undefined][] = [
  ["simulated", () => createSimMachine().process()],
  ["linux", linuxVgem],
];

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const [label, make] of kernels) {
  const kernel = label === "linux" ? make() : undefined;
  const ignore = label === "linux" && kernel === undefined;
  const k = () => kernel ?? make()!;

  Deno.test({
    name: `[${label}] GemObject.exportDmaBuf() of a vgem dumb buffer maps and syncs`,
    ignore,
    fn() {
      const kern = k();
      using card = openDrmDevice({ driver: "vgem", kernel: kern });
      using dumb = card.createDumb({ width: 320, height: 240, bpp: 32 });
      assert.equal(dumb.pitch, 1280);
      assert.equal(dumb.size, 1280 * 240);
      using buf = dumb.exportDmaBuf();
      assert.equal(buf.size, dumb.size);
      assert.equal(buf.info().exporter, "drm");
      using map = buf.map();
      map.write((b) => {
        for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
      });
      // The same memory through the DRM device's own mapping (MAP_DUMB + mmap of the card).
      using direct = dumb.map();
      const bytes = direct.bytes;
      assert.equal(bytes.length, dumb.size);
      assert.ok(bytes.every((v, i) => v === ((i * 7) & 0xff)));
      bytes.fill(0x42, 0, 4096);
      assert.equal(map.read((b) => b.subarray(0, 4096).every((v) => v === 0x42)), true);
    },
  });

  Deno.test({
    name: `[${label}] a vgem fence holds DmaBuf.wait() and sync files until it is signalled`,
    ignore,
    async fn() {
      const kern = k();
      using heap = openHeap("system", { kernel: kern });
      using card = openDrmDevice({ driver: "vgem", kernel: kern });
      using buf = heap.allocate(1 << 20);
      using gem = card.importDmaBuf(buf);
      const fence = gem.attachFence("write");
      assert.ok(fence instanceof VgemFence);
      using sync = buf.exportSyncFile("read");
      let woke = 0;
      const reader = buf.wait("read").then(() => woke++);
      const writer = buf.wait("write").then(() => woke++);
      const syncWait = sync.wait().then(() => woke++);
      await tick(100);
      assert.equal(woke, 0, "nothing wakes while the vgem fence is pending");
      assert.equal(sync.poll(), false);
      assert.equal(kern.poll([{ fd: buf.fd, events: POLLIN | POLLOUT }], 0)[0], 0);
      await assert.rejects(buf.wait("read", { timeout: 50 }), Deno.errors.TimedOut);
      fence.signal();
      await Promise.all([reader, writer, syncWait]);
      assert.equal(woke, 3);
      assert.equal(sync.poll(), true);
      // A reader fence holds writers only.
      const r = gem.attachFence("read");
      await buf.wait("read", { timeout: 1000 });
      await assert.rejects(buf.wait("write", { timeout: 50 }), Deno.errors.TimedOut);
      r.signal();
      await buf.wait("write", { timeout: 1000 });
    },
  });

  Deno.test({
    name:
      `[${label}] PRIME import of a heap buffer gives a handle and round-trips to the same inode`,
    ignore,
    fn() {
      const kern = k();
      using heap = openHeap("system", { kernel: kern });
      using card = openDrmDevice({ driver: "vgem", kernel: kern });
      using buf = heap.allocate(65536, { name: "prime-rt" });
      using gem = card.importDmaBuf(buf);
      assert.ok(gem.handle > 0);
      assert.equal(gem.size, 65536);
      assert.equal(card.importDmaBuf(buf), gem, "the same buffer gives the same handle");
      using back = gem.exportDmaBuf();
      assert.notEqual(back.fd, buf.fd);
      const a = buf.info(), b = back.info();
      assert.equal(b.inode, a.inode);
      assert.equal(b.exporter, "system");
      assert.equal(b.name, "prime-rt");
    },
  });

  Deno.test({
    name: `[${label}] DRM errors carry errno, the ioctl, the node and a hint`,
    ignore,
    fn() {
      const kern = k();
      using heap = openHeap("system", { kernel: kern });
      const card = openDrmDevice({ driver: "vgem", kernel: kern });
      using buf = heap.allocate(4096);
      const gem = card.importDmaBuf(buf);
      const fence = gem.attachFence("write");
      assert.throws(() => gem.attachFence("read"), (e: ErrnoError) => {
        assert.ok(e instanceof ErrnoError);
        assert.equal(e.code, "EBUSY");
        assert.equal(e.syscall, "ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)");
        assert.equal(e.path, "/dev/dri/card0");
        assert.match(e.message, /conflicting fence/);
        return true;
      });
      fence.signal();
      assert.throws(() => fence.signal(), Deno.errors.NotFound);
      assert.throws(() => card.createDumb({ width: 0, height: 1, bpp: 32 }), { code: "EINVAL" });
      gem.close();
      gem.close(); // idempotent
      assert.throws(() => gem.exportDmaBuf(), Deno.errors.BadResource);
      card.close();
      assert.throws(() => card.importDmaBuf(buf), Deno.errors.BadResource);
      assert.throws(
        () => openDrmDevice({ driver: "no-such-driver", kernel: kern }),
        (e: Error) => e instanceof Deno.errors.NotFound && /vgem/.test(e.message),
      );
    },
  });
}

Deno.test("[simulated] listDrmDevices() finds vgem; a machine without it says how to get one", () => {
  const k = createSimMachine().process();
  assert.deepEqual(listDrmDevices({ kernel: k }).map((d) => [d.path, d.version?.name]), [
    ["/dev/dri/card0", "vgem"],
  ]);
  const bare = createSimMachine({ vgem: false }).process();
  assert.throws(() => openDrmDevice({ kernel: bare }), (e: ErrnoError) => {
    assert.equal(e.code, "ENOENT");
    assert.match(e.message, /modprobe vgem/);
    return true;
  });
});

Deno.test("[simulated] a buffer of another kernel is refused with EXDEV, not imported", () => {
  const a = createSimMachine().process();
  const b = createSimMachine().process();
  using heap = openHeap("system", { kernel: a });
  using buf = heap.allocate(4096);
  using card = openDrmDevice({ kernel: b });
  assert.throws(() => card.importDmaBuf(buf), { code: "EXDEV" });
});

Deno.test("[simulated] closing the DRM device signals its pending vgem fences and unmaps", async () => {
  const k = createSimMachine().process();
  using heap = openHeap("system", { kernel: k });
  using buf = heap.allocate(4096);
  const card = openDrmDevice({ kernel: k });
  card.importDmaBuf(buf).attachFence("write");
  const dumb = card.createDumb({ width: 16, height: 16, bpp: 32 });
  const m = dumb.map();
  const view = m.bytes;
  assert.equal(view.length, 4096);
  const waiting = buf.wait("read", { timeout: 1000 });
  card.close();
  await waiting;
  assert.equal(m.bytes.length, 0, "the device's mappings are gone");
  assert.equal(dumb.closed, true);
});
