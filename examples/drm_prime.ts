/**
 * A real DRM driver nobody here wrote — vgem, the virtual GEM provider of the stock kernel —
 * sharing buffers with the library through PRIME:
 *
 * 1. a heap buffer goes into vgem (`PRIME_FD_TO_HANDLE`) and comes back (`PRIME_HANDLE_TO_FD`):
 *    the same buffer (inode) both ways;
 * 2. a vgem dumb buffer comes out as a DmaBuf that the library maps and syncs, and the bytes
 *    written through it show in vgem's own mapping of the buffer;
 * 3. a vgem fence on the heap buffer's reservation object holds `buf.wait("read")` and an
 *    exported sync file until the fence is signalled.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/drm_prime.ts [heap]
 *
 * Needs /dev/dri/card* of vgem (`modprobe vgem`); without /dev/dma_heap it runs on the simulated
 * kernel, which has vgem built in.
 */
import { kernelSelection, openHeap } from "@dmabuf/dmabuf";
import { openDrmDevice } from "@dmabuf/dmabuf/drm";

const heapName = Deno.args[0] ?? "system";
const { kernel, reason } = kernelSelection();
console.log(`kernel: ${kernel.kind} — ${kernel.description} (${reason})`);

using card = openDrmDevice({ driver: "vgem" });
const v = card.version;
console.log(`${card.path}: ${v.name} ${v.major}.${v.minor}.${v.patchlevel} "${v.desc}"`);

// 1. PRIME import and export of a heap buffer.
using heap = openHeap(heapName);
using buf = heap.allocate(1 << 20, { name: "prime-demo" });
using gem = card.importDmaBuf(buf);
using back = gem.exportDmaBuf();
const [a, b] = [buf.info(), back.info()];
console.log(
  `heap buffer inode ${a.inode} → GEM handle ${gem.handle} → dma-buf inode ${b.inode} ` +
    `(${a.inode === b.inode ? "same buffer" : "DIFFERENT BUFFER"}), exporter ${b.exporter}, ` +
    `name ${b.name}, references ${b.count}`,
);

// 2. A vgem dumb buffer as a DmaBuf: map, sync, and see the bytes through vgem's mapping.
using dumb = card.createDumb({ width: 640, height: 480, bpp: 32 });
using dumbBuf = dumb.exportDmaBuf({ readOnly: false });
using map = dumbBuf.map();
map.write((px) => {
  for (let i = 0; i < px.length; i++) px[i] = (i >> 2) & 0xff;
});
using direct = dumb.map();
const sum = direct.bytes.reduce((s, x) => (s + x) >>> 0, 0);
const want = map.read((px) => px.reduce((s, x) => (s + x) >>> 0, 0));
console.log(
  `dumb buffer ${dumb.width}x${dumb.height}x${dumb.bpp}: handle ${dumb.handle}, pitch ` +
    `${dumb.pitch}, ${dumb.size} bytes, exported as "${dumbBuf.exporter}" inode ` +
    `${dumbBuf.info().inode}; byte sum via DmaBuf ${want}, via MAP_DUMB ${sum} ` +
    `(${want === sum ? "same memory" : "MISMATCH"})`,
);

// 3. A vgem fence holds readers of the heap buffer until it is signalled.
const fence = gem.attachFence("write");
using sync = buf.exportSyncFile("read");
const t0 = performance.now();
let woke = -1;
const reader = buf.wait("read", { timeout: 5000 }).then(() => (woke = performance.now() - t0));
await new Promise((r) => setTimeout(r, 100));
console.log(
  `vgem fence ${fence.id} attached: after 100 ms wait("read") ${
    woke < 0 ? "still pending" : "RESOLVED"
  }, sync file ${sync.poll() ? "SIGNALLED" : "pending"}`,
);
const tSignal = performance.now() - t0;
fence.signal();
await reader;
console.log(
  `signalled at ${tSignal.toFixed(0)} ms: wait("read") resolved ${
    (woke - tSignal).toFixed(1)
  } ms later, sync file ${sync.poll() ? "signalled" : "PENDING"}`,
);
