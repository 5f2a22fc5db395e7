import assert from "node:assert/strict";
import { closedError, ErrnoError, errnoError } from "../src/errors.ts";
import { Errno, errnoName } from "../src/uapi/errno.ts";
import { openHeap } from "../mod.ts";
import { createSimMachine } from "../src/sim/mod.ts";

Deno.test("errnoError() picks the Deno.errors class that fits the errno", () => {
  const cases: [number, unknown][] = [
    [Errno.ENOENT, Deno.errors.NotFound],
    [Errno.EACCES, Deno.errors.PermissionDenied],
    [Errno.EPERM, Deno.errors.PermissionDenied],
    [Errno.EBUSY, Deno.errors.Busy],
    [Errno.EINTR, Deno.errors.Interrupted],
    [Errno.EBADF, Deno.errors.BadResource],
    [Errno.ETIMEDOUT, Deno.errors.TimedOut],
  ];
  for (const [errno, cls] of cases) {
    const e = errnoError(errno, "open");
    assert.ok(e instanceof (cls as typeof Error), errnoName(errno));
    assert.ok(e instanceof ErrnoError, `${errnoName(errno)} is an ErrnoError`);
    assert.equal(e.errno, errno);
    assert.equal(e.code, errnoName(errno));
  }
  const plain = errnoError(Errno.EINVAL, "ioctl(DMA_BUF_IOCTL_SYNC)");
  assert.equal(plain.name, "ErrnoError");
  assert.ok(!(plain instanceof Deno.errors.NotFound));
});

Deno.test("errnoError() message names syscall, errno, path, detail and hint", () => {
  const e = errnoError(Errno.EACCES, "open", {
    path: "/dev/dma_heap/system",
    hint: "Add a udev rule",
  });
  assert.equal(
    e.message,
    "open failed with EACCES on /dev/dma_heap/system: Permission denied. Add a udev rule",
  );
  assert.equal(e.syscall, "open");
  assert.equal(e.path, "/dev/dma_heap/system");
  const d = errnoError(Errno.EINVAL, "mmap", { detail: "offset 3 is not page aligned" });
  assert.equal(d.message, "mmap failed with EINVAL: offset 3 is not page aligned");
});

Deno.test("ErrnoError instanceof rejects foreign errors and plain objects", () => {
  assert.ok(!(new Error("x") instanceof ErrnoError));
  assert.ok(!(({ errno: 1 }) instanceof ErrnoError));
  assert.ok(!((null as unknown) instanceof ErrnoError));
});

Deno.test("closedError() reads like libclang_deno's closed guards", () => {
  const e = closedError("sync", "DmaBuf");
  assert.ok(e instanceof Deno.errors.BadResource);
  assert.equal(e.code, "EBADF");
  assert.equal(e.message, "Cannot sync a closed DmaBuf");
  assert.equal(e.syscall, "", "no system call was made");
});

Deno.test("a closed DmaBuf's methods throw BadResource that names the method, not a syscall", () => {
  const heap = openHeap("system", { kernel: createSimMachine().process() });
  const buf = heap.allocate(4096);
  heap.close();
  buf.close();
  assert.throws(() => buf.map(), { name: "BadResource", message: "Cannot map a closed DmaBuf" });
  assert.throws(() => buf.fd, { message: "Cannot use a closed DmaBuf" });
  assert.throws(() => buf.intoFd(), { message: "Cannot give up the fd of a closed DmaBuf" });
});

Deno.test("errnoName() names unknown values E<n>", () => {
  assert.equal(errnoName(77), "EBADFD");
  assert.equal(errnoName(4242), "E4242");
});

Deno.test("an abstract socket name in an error message shows as @name, not a raw NUL", () => {
  const e = errnoError(111, "connect", { path: "\0frames" });
  assert.equal(e.message, "connect failed with ECONNREFUSED on @frames: Connection refused");
  assert.equal(e.path, "\0frames", "the path property keeps the name as given");
  assert.equal(
    errnoError(2, "open", { path: "/tmp/a\nb" }).message,
    "open failed with ENOENT on /tmp/a\\nb: No such file or directory",
  );
});

Deno.test("a buffer name with a newline or another control character is refused, not cut short in info()", () => {
  using heap = openHeap("system", { kernel: createSimMachine().process() });
  using buf = heap.allocate(4096, { name: "cam-0" });
  for (const name of ["a\nb", "a\rb", "a\tb", "a\x7fb", "a\0b"]) {
    assert.throws(() => buf.setName(name), {
      code: "EINVAL",
      syscall: "ioctl(DMA_BUF_SET_NAME_B)",
    });
    assert.throws(() => heap.allocate(4096, { name }), { code: "EINVAL" });
  }
  assert.equal(buf.info().name, "cam-0");
  buf.setName("é-ok");
  assert.equal(buf.info().name, "é-ok");
});

Deno.test("the errno subclasses carry their exported names as class names", () => {
  const e = errnoError(Errno.EBADF, "close");
  assert.equal(e.constructor.name, "BadResourceError");
  assert.equal(errnoError(Errno.ENOENT, "open").constructor.name, "NotFoundError");
  assert.equal(errnoError(Errno.EINVAL, "ioctl").constructor.name, "ErrnoError");
});

Deno.test("an options.kernel that is not a Kernel is a TypeError naming it, not 'kernel.open is not a function'", () => {
  for (const kernel of [{}, 5, "sim", { kind: "simulated" }]) {
    for (const call of [() => openHeap("system", { kernel } as never)]) {
      assert.throws(call, (e: Error) => {
        assert.ok(e instanceof TypeError);
        assert.equal((e as { code?: string }).code, "EINVAL");
        assert.match(e.message, /^openHeap: options\.kernel must be a Kernel/);
        return true;
      });
    }
  }
});
