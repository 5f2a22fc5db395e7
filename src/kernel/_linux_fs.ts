/**
 * File reads of the Linux kernel (`/proc`, `/sys`, debugfs) through libc.
 *
 * Deno's own file API refuses `/proc`, `/sys` and `/dev` without `--allow-all` ("Requires all
 * access"), even with `--allow-read`; the FFI permission this kernel already needs covers libc's
 * `open`/`read`/`opendir`/`readlink`, and the errors are then the kernel's own errno.
 *
 * @module
 */
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { O_CLOEXEC, O_RDONLY } from "../uapi/constants.ts";
import { DIRENT_D_NAME } from "../ffi/libc.ts";
import type { LoadedLibc } from "../ffi/load.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PATH_MAX = 4096;
const CHUNK = 16384;

/** A NUL-terminated copy of `s` in off-heap memory; EINVAL for a NUL inside. */
export function cString(s: string, syscall: string): Uint8Array {
  if (typeof s !== "string" || s.includes("\0")) {
    throw errnoError(Errno.EINVAL, syscall, {
      path: String(s),
      detail: "A path or name must be a string without NUL bytes",
    });
  }
  // An explicit ArrayBuffer lives outside the V8 heap, so its address is stable during a call.
  const bytes = new Uint8Array(new ArrayBuffer(s.length * 3 + 1));
  encoder.encodeInto(s, bytes);
  return bytes;
}

function fail(libc: LoadedLibc, syscall: string, path: string): Error {
  return errnoError(libc.errno[0], syscall, { path });
}

/** A whole file as text: `open`, `read` until end of file, `close`. */
// One read buffer and one path buffer for the module, made on first use: every call below is
// synchronous and this module instance runs on one thread, so no two calls share them at once.
let scratch: {
  chunk: Uint8Array;
  ptr: Deno.PointerValue;
  path: Uint8Array;
  pathPtr: Deno.PointerValue;
  last: string;
} | undefined;
const CHUNK_N = BigInt(CHUNK);

function scratchPath(s: string, syscall: string) {
  const sc = scratch ??= (() => {
    const chunk = new Uint8Array(new ArrayBuffer(CHUNK));
    const path = new Uint8Array(new ArrayBuffer(PATH_MAX));
    return {
      chunk,
      ptr: Deno.UnsafePointer.of(chunk),
      path,
      pathPtr: Deno.UnsafePointer.of(path),
      last: "",
    };
  })();
  if (typeof s !== "string" || s.includes("\0") || s.length * 3 >= PATH_MAX) {
    const keep = cString(s, syscall); // a long path: its own buffer, alive in the caller
    return { sc, ptr: Deno.UnsafePointer.of(keep), keep };
  }
  if (s !== sc.last) {
    const { written } = encoder.encodeInto(s, sc.path);
    sc.path[written] = 0;
    sc.last = s;
  }
  return { sc, ptr: sc.pathPtr, keep: sc.path };
}

export function readText(libc: LoadedLibc, path: string): string {
  const c = libc.symbols;
  const { sc, ptr: name, keep } = scratchPath(path, "open");
  // SAFETY: `name` points into `keep`, NUL-terminated and alive for the call.
  const fd = c.open(name, O_RDONLY | O_CLOEXEC, 0);
  void keep;
  if (fd < 0) throw fail(libc, "open", path);
  const { chunk, ptr } = sc;
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      // SAFETY: `ptr` addresses the CHUNK writable bytes of `chunk`, alive for the call.
      const n = Number(c.read(fd, ptr, CHUNK_N));
      if (n < 0) throw fail(libc, "read", path);
      if (n === 0) break;
      if (total === 0 && n < CHUNK) {
        // The common case (fdinfo, sysfs): the whole file in one read.
        const m = Number(
          c.read(
            fd,
            ptr === null ? null : Deno.UnsafePointer.offset(ptr as Deno.PointerObject, n),
            CHUNK_N - BigInt(n),
          ),
        );
        if (m === 0) return decoder.decode(chunk.subarray(0, n));
        if (m < 0) throw fail(libc, "read", path);
        parts.push(chunk.slice(0, n + m));
        total = n + m;
        continue;
      }
      parts.push(chunk.slice(0, n));
      total += n;
    }
  } finally {
    c.close(fd);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return decoder.decode(all);
}

/** Names in a directory without `.` and `..`, sorted: `opendir`, `readdir`, `closedir`. */
export function readDir(libc: LoadedLibc, path: string): string[] {
  const c = libc.symbols;
  const name = cString(path, "opendir");
  // SAFETY: `name` is NUL-terminated and alive for the call.
  const dir = c.opendir(Deno.UnsafePointer.of(name));
  if (dir === null) throw fail(libc, "opendir", path);
  const names: string[] = [];
  try {
    for (;;) {
      libc.errno[0] = 0; // readdir reports an error only through errno
      const entry = c.readdir(dir);
      if (entry === null) {
        if (libc.errno[0] !== 0) throw fail(libc, "readdir", path);
        break;
      }
      // SAFETY: `entry` is the struct dirent readdir just returned, valid until the next
      // readdir/closedir on `dir`; d_name is NUL-terminated inside it.
      const n = Deno.UnsafePointerView.getCString(entry, DIRENT_D_NAME);
      if (n !== "." && n !== "..") names.push(n);
    }
  } finally {
    c.closedir(dir);
  }
  return names.sort();
}

/** The target of a symbolic link: `readlink(2)`. */
export function readLink(libc: LoadedLibc, path: string): string {
  const c = libc.symbols;
  const name = cString(path, "readlink");
  for (let size = PATH_MAX;; size *= 2) {
    const buf = new Uint8Array(new ArrayBuffer(size));
    // SAFETY: `name` is NUL-terminated, `buf` has `size` writable bytes; both alive here.
    const n = Number(
      c.readlink(Deno.UnsafePointer.of(name), Deno.UnsafePointer.of(buf), BigInt(size)),
    );
    if (n < 0) throw fail(libc, "readlink", path);
    // readlink truncates silently; a full buffer may be a truncated target.
    if (n < size) return decoder.decode(buf.subarray(0, n));
  }
}
