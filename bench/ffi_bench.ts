/**
 * Overhead of LinuxKernel over the raw libc FFI call it wraps. Runs on any Linux host (memfds
 * only): `deno bench --allow-ffi bench/ffi_bench.ts`.
 */
import { loadLibc } from "../src/ffi/load.ts";
import { FIONREAD } from "../src/ffi/libc.ts";
import { linuxKernel } from "../src/kernel/linux.ts";
import { F_GETFD, MAP_SHARED, MFD_CLOEXEC, PROT_READ, PROT_WRITE } from "../src/uapi/constants.ts";

const k = linuxKernel();
const { symbols: c, errno } = loadLibc();
const MIB = 1 << 20;
const fd = k.memfdCreate("ffi_bench", MFD_CLOEXEC);
k.ftruncate(fd, 16 * MIB);

// The raw baseline gets the same advantages as the wrapper: a long-lived buffer and its pointer.
const rawOut = new Int32Array(new ArrayBuffer(4));
const rawPtr = Deno.UnsafePointer.of(rawOut);
const out = k.userBuffer(4);

Deno.bench("raw ioctl(FIONREAD)", { group: "ioctl", baseline: true }, () => {
  if (c.ioctl(fd, FIONREAD, rawPtr) < 0) throw new Error(`errno ${errno[0]}`);
});
Deno.bench("LinuxKernel.ioctl(FIONREAD)", { group: "ioctl" }, () => {
  k.ioctl(fd, FIONREAD, out, "FIONREAD");
});

Deno.bench("raw fcntl(F_GETFD)", { group: "fcntl", baseline: true }, () => {
  if (c.fcntl(fd, F_GETFD, 0) < 0) throw new Error(`errno ${errno[0]}`);
});
Deno.bench("LinuxKernel.fcntl(F_GETFD)", { group: "fcntl" }, () => {
  k.fcntl(fd, F_GETFD, 0);
});

// The failure path: raw reads errno; the wrapper builds and throws a typed error.
Deno.bench("raw ioctl → ENOTTY + errno", { group: "ioctl error", baseline: true }, () => {
  if (c.ioctl(fd, 0x40086200, rawPtr) >= 0 || errno[0] !== 25) throw new Error("no ENOTTY");
});
Deno.bench("LinuxKernel.ioctl → throws ENOTTY", { group: "ioctl error" }, () => {
  try {
    k.ioctl(fd, 0x40086200, out, "DMA_BUF_IOCTL_SYNC");
  } catch {
    return;
  }
  throw new Error("no ENOTTY");
});

for (
  const [label, size] of [["4 KiB", 4096], ["64 KiB", 65536], ["1 MiB", MIB], [
    "16 MiB",
    16 * MIB,
  ]] as const
) {
  const big = BigInt(size);
  Deno.bench(`raw mmap+munmap ${label}`, { group: `mmap ${label}`, baseline: true }, () => {
    const p = c.mmap(null, big, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
    // SAFETY: `p` was just mapped with `size` bytes; the view is detached before munmap.
    const ab = Deno.UnsafePointerView.getArrayBuffer(p!, size);
    ab.transfer(0);
    if (c.munmap(p, big) < 0) throw new Error(`errno ${errno[0]}`);
  });
  Deno.bench(`LinuxKernel mmap+munmap ${label}`, { group: `mmap ${label}` }, () => {
    k.munmap(k.mmap(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0));
  });
}

globalThis.addEventListener("unload", () => k.close(fd));
