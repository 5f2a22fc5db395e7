/**
 * The libc loader and symbol table: lazy loading, permissions, the DMABUF_LIBC override and the
 * raw symbols against this host's kernel (no dma-heap needed).
 */
import assert from "node:assert/strict";
import { LIBC_CANDIDATES, LIBC_ENV, loadLibc } from "../src/ffi/load.ts";
import { _SC_PAGESIZE, FIONREAD, symbols } from "../src/ffi/libc.ts";
import { Errno } from "../src/uapi/errno.ts";

const root = new URL("../", import.meta.url);
const decoder = new TextDecoder();

const runSkip = Deno.permissions.querySync({ name: "run" }).state === "granted"
  ? undefined
  : "needs --allow-run to start deno subprocesses";
if (runSkip) console.log(`ffi_test: skipping the subprocess tests: ${runSkip}`);

/** Runs a TypeScript module given on stdin with `deno run --no-prompt <flags>`. */
async function runDeno(
  flags: string[],
  source: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", ...flags, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(source));
  await writer.close();
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test({
  name: "importing mod.ts and the Linux kernel needs no permission; using it needs --allow-ffi",
  ignore: runSkip !== undefined,
}, async () => {
  const { code, stdout, stderr } = await runDeno(
    [],
    `
    import * as mod from "${new URL("mod.ts", root)}";
    import * as linux from "${new URL("src/kernel/linux.ts", root)}";
    import * as load from "${new URL("src/ffi/load.ts", root)}";
    console.log("imported", typeof mod.openHeap, typeof linux.linuxKernel, typeof load.loadLibc);
    try {
      linux.linuxKernel();
      console.log("no error");
    } catch (e) {
      console.log(e.name, e.code, e.syscall, e instanceof Deno.errors.PermissionDenied);
    }
    `,
  );
  assert.equal(code, 0, stderr);
  assert.equal(
    stdout,
    "imported function function function\nPermissionDenied EACCES dlopen true\n",
  );
});

Deno.test({
  name: `loadLibc() with ${LIBC_ENV} set to a missing library lists it and why it failed`,
  ignore: runSkip !== undefined,
}, async () => {
  const { code, stdout, stderr } = await runDeno(
    ["--allow-ffi", `--allow-env=${LIBC_ENV}`],
    `
    import { loadLibc } from "${new URL("src/ffi/load.ts", root)}";
    try {
      loadLibc();
      console.log("loaded");
    } catch (e) {
      console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
    }
    `,
    { [LIBC_ENV]: "/nonexistent/libc-for-test.so.6" },
  );
  assert.equal(code, 0, stderr);
  const err = JSON.parse(stdout);
  assert.equal(err.name, "NotFound");
  assert.equal(err.code, "ENOENT");
  assert.match(err.message, /^dlopen failed with ENOENT: /);
  assert.match(err.message, /DMABUF_LIBC=\/nonexistent\/libc-for-test\.so\.6/);
  // The reason for the path: dlopen's own message.
  assert.match(err.message, /\/nonexistent\/libc-for-test\.so\.6 \(.*No such file/);
});

Deno.test({
  name: `loadLibc() without --allow-env ignores ${LIBC_ENV} and loads the default libc`,
  ignore: runSkip !== undefined,
}, async () => {
  const { code, stdout, stderr } = await runDeno(
    ["--allow-ffi"],
    `
    import { loadLibc } from "${new URL("src/ffi/load.ts", root)}";
    console.log(loadLibc().path);
    `,
    { [LIBC_ENV]: "/nonexistent/libc-for-test.so.6" },
  );
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim(), LIBC_CANDIDATES[0]);
});

Deno.test({
  name: `loadLibc() with ${LIBC_ENV} set to an absolute libc path uses it`,
  ignore: runSkip !== undefined,
}, async () => {
  const path = LIBC_CANDIDATES.find((p) => {
    try {
      return p.startsWith("/") && Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  assert.ok(path, "an absolute libc candidate exists on this host");
  const { code, stdout, stderr } = await runDeno(
    ["--allow-ffi", `--allow-env=${LIBC_ENV}`],
    `
    import { loadLibc } from "${new URL("src/ffi/load.ts", root)}";
    console.log(loadLibc().path);
    `,
    { [LIBC_ENV]: path },
  );
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim(), path);
});

Deno.test("loadLibc() opens libc once and returns the same library", () => {
  const a = loadLibc();
  assert.equal(loadLibc(), a);
  assert.ok(LIBC_CANDIDATES.includes(a.path));
  for (const name of Object.keys(symbols)) {
    assert.equal(typeof (a.symbols as Record<string, unknown>)[name], "function", name);
  }
});

Deno.test("raw close() of a bad fd returns -1 and sets errno to EBADF", () => {
  const { symbols: c, errno } = loadLibc();
  errno[0] = 0;
  assert.equal(c.close(-1), -1);
  assert.equal(errno[0], Errno.EBADF);
});

Deno.test("raw ioctl(FIONREAD) on a memfd reports the bytes left; a bad request sets ENOTTY", () => {
  const { symbols: c, errno } = loadLibc();
  const name = new Uint8Array(new ArrayBuffer(8));
  name.set(new TextEncoder().encode("raw"));
  const fd = c.memfd_create(Deno.UnsafePointer.of(name), 1);
  assert.ok(fd >= 0);
  try {
    assert.equal(c.ftruncate(fd, 12345n), 0);
    const out = new Int32Array(new ArrayBuffer(4));
    assert.equal(c.ioctl(fd, FIONREAD, Deno.UnsafePointer.of(out)), 0);
    assert.equal(out[0], 12345);
    assert.equal(c.ioctl(fd, 0xC0184800, Deno.UnsafePointer.of(out)), -1);
    assert.equal(errno[0], Errno.ENOTTY);
  } finally {
    c.close(fd);
  }
});

Deno.test("raw sysconf(_SC_PAGESIZE) is a power of two", () => {
  const page = Number(loadLibc().symbols.sysconf(_SC_PAGESIZE));
  assert.ok(page >= 4096 && (page & (page - 1)) === 0, String(page));
});

Deno.test("raw nonblocking poll() resolves with the ready count", async () => {
  const { symbols: c } = loadLibc();
  const name = new Uint8Array(new ArrayBuffer(8));
  name.set(new TextEncoder().encode("poll"));
  const fd = c.memfd_create(Deno.UnsafePointer.of(name), 1);
  assert.ok(fd >= 0);
  try {
    const pfd = new DataView(new ArrayBuffer(8));
    pfd.setInt32(0, fd, true);
    pfd.setInt16(4, 1, true); // POLLIN
    const n = await c.poll_nonblocking(Deno.UnsafePointer.of(pfd.buffer), 1n, 1000);
    assert.equal(n, 1);
    assert.equal(pfd.getInt16(6, true), 1); // a regular file is always readable
  } finally {
    c.close(fd);
  }
});

const workerSkip = Deno.permissions.querySync({ name: "read" }).state === "granted"
  ? undefined
  : "needs --allow-read for a worker to import the library";
if (workerSkip) console.log(`ffi_test: skipping the worker test: ${workerSkip}`);

Deno.test({
  name: "LinuxKernel in a worker reads that worker's own errno",
  ignore: workerSkip !== undefined,
  async fn() {
    const source = `
      import { linuxKernel } from "${new URL("src/kernel/linux.ts", root)}";
      const k = linuxKernel();
      const fd = k.memfdCreate("worker", 1);
      const codes = [];
      for (const fn of [() => k.close(-1), () => k.open("/nonexistent", 0), () => k.ioctl(fd, 0x1234, null)]) {
        try { fn(); codes.push("none"); } catch (e) { codes.push(e.code); }
      }
      k.close(fd);
      self.postMessage(codes);
    `;
    const url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
    const worker = new Worker(url, { type: "module" });
    try {
      const codes = await new Promise((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(e.message));
        };
      });
      assert.deepEqual(codes, ["EBADF", "ENOENT", "ENOTTY"]);
    } finally {
      worker.terminate();
      URL.revokeObjectURL(url);
    }
  },
});
