/**
 * Two drivers, one buffer: user space allocates 1 MiB from the CMA heap,
 * maps it and writes a string; driver A imports the buffer (dma_buf_get → attach →
 * map_attachment → sg table → vmap), prints what it sees and writes its own string; driver B
 * does the same and sees driver A's string — one buffer, shared by two drivers, no copies.
 *
 * Runs unchanged on the simulated kernel (whose default board has the test driver built in)
 * and on a real kernel with the project's test driver module loaded. The kernel log is
 * interleaved with the program's own lines.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/two_drivers.ts
 */
import { getKernel, type Kernel } from "@dmabuf/dmabuf/kernel";
import { kernelSelection, listHeaps, openHeap } from "@dmabuf/dmabuf";
import { buf_info, O_CLOEXEC, O_RDWR, TEST_DRIVERA, TEST_DRIVERB } from "@dmabuf/dmabuf/uapi";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function strcpy(dst: Uint8Array, s: string): void {
  const bytes = encoder.encode(s);
  dst.set(bytes);
  dst[bytes.length] = 0;
}

function cstring(src: Uint8Array): string {
  const end = src.indexOf(0);
  return decoder.decode(src.subarray(0, end < 0 ? 64 : Math.min(end, 256)));
}

/** Prints the kernel log records that appeared since the last call. */
function kernelLog(k: Kernel): () => void {
  const read = (): string[] => {
    try {
      return k.syslog().split("\n").filter((l) => l !== "");
    } catch (e) {
      return [`(kernel log unreadable: ${(e as Error).message})`];
    }
  };
  let seen = read().length;
  return () => {
    const lines = read();
    for (const line of lines.slice(seen)) console.log(line);
    seen = lines.length;
  };
}

const k = getKernel();
const { reason } = kernelSelection();
console.log(`kernel: ${k.kind} — ${k.description} (${reason})`);
const printNewLog = kernelLog(k);

const contiguous = listHeaps().some((h) => h.role === "contiguous" && h.accessible);
using heap = contiguous ? openHeap({ role: "contiguous" }) : openHeap("system");
console.log(`heap: ${heap.path}${contiguous ? "" : " (no CMA heap on this kernel)"}`);

using buf = heap.allocate(1024 * 1024);
using map = buf.map();
map.write((bytes) => strcpy(bytes, "driverA: userspace!"));

const info = k.userBuffer(buf_info.size);
info.view.setInt32(buf_info.fd, buf.fd, true);
info.view.setUint32(buf_info.buf, map.address % 2 ** 32, true);
info.view.setUint32(buf_info.buf + 4, Math.floor(map.address / 2 ** 32), true);
info.view.setUint32(buf_info.size_, buf.size, true);

for (
  const [device, request, name] of [
    ["/dev/driverA", TEST_DRIVERA, "TEST_DRIVERA"],
    ["/dev/driverB", TEST_DRIVERB, "TEST_DRIVERB"],
  ] as const
) {
  let fd: number;
  try {
    fd = k.open(device, O_RDWR | O_CLOEXEC);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
    console.error(
      `${device} is missing: this kernel has no importer driver for the demo. Build the test ` +
        "module (make -C /lib/modules/$(uname -r)/build M=$PWD/tools/kernel/module, or " +
        "tools/kernel/build-module.sh KDIR OUTDIR) and load it as root with " +
        "`insmod tools/kernel/module/test_driver.ko` (it makes /dev/driverA and /dev/driverB); " +
        "or run the demo on the simulated kernel: DMABUF_KERNEL=simulated deno task demo",
    );
    Deno.exit(2);
  }
  try {
    k.ioctl(fd, request, info, name);
  } finally {
    k.close(fd);
  }
  printNewLog();
  const who = name === "TEST_DRIVERA" ? "driverA" : "driverB";
  console.log(`${who} buf = ${map.read(cstring)}`);
}
