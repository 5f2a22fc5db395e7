/**
 * Trustworthy on a real device (issue 10): the kernel choice never simulates on a machine with
 * dma-buf nodes, a property asked for is never dropped, errors name their cause and fix, and
 * leaks are reported. Kernel-dependent cases run on a simulated process and, when the kernel in
 * use is Linux (the guests: DMABUF_KERNEL=linux), on it too.
 */
import assert from "node:assert/strict";
import {
  decideKernel,
  getKernel,
  KERNEL_CHOICES,
  kernelSelection,
  setKernel,
} from "../src/kernel/select.ts";
import { createSimMachine } from "../src/sim/mod.ts";
import { CMA_HINT, openHeap, UDEV_HINT } from "../src/heaps/heap.ts";
import { openAllocator } from "../src/heaps/allocator.ts";
import { HEAP_ROLES, pickHeap } from "../src/heaps/roles.ts";
import { openUdmabuf, UDMABUF_SIZE_LIMIT_PATH } from "../src/heaps/udmabuf.ts";
import { receiveDmaBuf, sendDmaBuf, TAKE_HINT, takeDmaBuf } from "../src/share/dmabuf.ts";
import { UnixSocket } from "../src/share/socket.ts";
import {
  formatLeak,
  LEAK_WARNINGS_PER_WINDOW,
  leakedCount,
  type LeakReport,
  leakStacks,
  setLeakWarnings,
} from "../src/dmabuf/_lifetime.ts";
import { errnoError } from "../src/errors.ts";
import { Errno } from "../src/uapi/errno.ts";
import { O_CLOEXEC, O_RDONLY } from "../src/uapi/constants.ts";
import type { Kernel } from "../src/kernel/types.ts";

/** The kernels a kernel-dependent case runs on: a simulated process, and Linux when in use. */
function kernels(): [string, Kernel][] {
  const out: [string, Kernel][] = [["simulated", createSimMachine().process()]];
  if (getKernel().kind === "linux") out.push(["linux", getKernel()]);
  return out;
}

/** `inner`, except that opening anything under `prefix` fails with EACCES (0600 root nodes). */
function refusing(inner: Kernel, prefix: string): Kernel {
  return new Proxy(inner, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== "function") return v;
      if (prop !== "open") return v.bind(target);
      return (path: string, flags: number) => {
        if (path.startsWith(prefix)) throw errnoError(Errno.EACCES, "open", { path });
        return v.call(target, path, flags);
      };
    },
  });
}

// ---- kernel choice ---------------------------------------------------------------------------

const linuxFacts = (nodes: string[] | string, wanted?: string) => ({
  os: "linux",
  wanted,
  ffi: true,
  nodes: () => nodes,
});

Deno.test("decideKernel: Linux whenever a dma-buf node exists, openable or not", () => {
  assert.deepEqual(decideKernel(linuxFacts(["/dev/dma_heap/system"])), {
    kind: "linux",
    reason: "dma-buf device nodes present: /dev/dma_heap/system",
  });
  assert.equal(decideKernel(linuxFacts(["/dev/udmabuf"])).kind, "linux");
  assert.equal(decideKernel(linuxFacts(["/dev/dma_heap (unlistable: EACCES)"])).kind, "linux");
});

Deno.test("decideKernel: simulated only without nodes, off Linux, or when asked", () => {
  const none = decideKernel(linuxFacts([]));
  assert.equal(none.kind, "simulated");
  assert.match(none.reason, /no dma-buf device node/);
  assert.deepEqual(decideKernel({ os: "darwin", wanted: undefined, ffi: true, nodes: () => [] }), {
    kind: "simulated",
    reason: "not Linux (darwin)",
  });
  for (const w of ["simulated", "SIM"]) {
    const d = decideKernel(linuxFacts(["/dev/dma_heap/system"], w));
    assert.deepEqual(d, { kind: "simulated", reason: `DMABUF_KERNEL=${w}` });
  }
  assert.equal(decideKernel(linuxFacts([], "linux")).kind, "linux");
  assert.equal(decideKernel(linuxFacts(["/dev/udmabuf"], "auto")).kind, "linux");
  assert.equal(decideKernel(linuxFacts(["/dev/udmabuf"], "")).kind, "linux");
});

Deno.test("decideKernel: no --allow-ffi on Linux does not guess, it says what to grant", () => {
  let probed = false;
  const facts = {
    os: "linux",
    wanted: undefined,
    ffi: false,
    nodes: () => {
      probed = true;
      return [];
    },
  };
  assert.throws(() => decideKernel(facts), (e: Error) => {
    assert.ok(e instanceof Deno.errors.NotCapable);
    assert.match(e.message, /--allow-ffi is not granted/);
    assert.match(e.message, /deno run --allow-ffi/);
    assert.match(e.message, /DMABUF_KERNEL=simulated/);
    assert.match(e.message, /setKernel\("simulated"\)/);
    return true;
  });
  assert.equal(probed, false);
  assert.throws(
    () => decideKernel(linuxFacts("libc could not be loaded (x)")),
    /libc could not be loaded \(x\), so the library cannot tell/,
  );
  // Asking settles it without FFI.
  assert.equal(decideKernel({ ...facts, wanted: "simulated" }).kind, "simulated");
});

Deno.test("DMABUF_KERNEL with an unknown value is rejected with the valid values", () => {
  assert.throws(() => decideKernel(linuxFacts([], "bogus")), (e: Error) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /DMABUF_KERNEL: "bogus" is not a kernel choice/);
    for (const v of KERNEL_CHOICES) assert.ok(e.message.includes(v), v);
    return true;
  });
});

Deno.test("setKernel() rejects anything but linux, simulated, a Kernel or null", () => {
  for (const bad of ["bogus", "sim", 42, {}, { kind: "simulated" }]) {
    assert.throws(() => setKernel(bad as never), TypeError, String(bad));
  }
  const before = kernelSelection();
  assert.equal(kernelSelection(), before, "a rejected setKernel changes nothing");
});

Deno.test("kernelSelection() on this host keeps the reason of the automatic choice", () => {
  setKernel(null);
  try {
    const { kernel, reason } = kernelSelection();
    assert.ok(reason.length > 0);
    if (Deno.env.get("DMABUF_KERNEL")) {
      assert.match(reason, /^DMABUF_KERNEL=/);
      return;
    }
    let nodes = false;
    try {
      nodes = Deno.readDirSync("/dev/dma_heap").next().done === false;
    } catch { /* missing, or unreadable with these permissions */ }
    try {
      Deno.statSync("/dev/udmabuf");
      nodes = true;
    } catch { /* missing */ }
    assert.equal(kernel.kind, nodes ? "linux" : "simulated", reason);
  } finally {
    setKernel(null);
  }
});

const CAN_RUN = Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state ===
  "granted";
const MOD = new URL("../mod.ts", import.meta.url).href;

async function runDeno(flags: string[], code: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", ...flags, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
  }).spawn();
  const w = out.stdin.getWriter();
  await w.write(new TextEncoder().encode(code));
  await w.close();
  const r = await out.output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

Deno.test({
  name: "a script without --allow-ffi on Linux is told what to grant on its first call",
  ignore: !CAN_RUN || Deno.build.os !== "linux",
  async fn() {
    const script = `
      import { openHeap } from "${MOD}";
      try { openHeap("system"); console.log("no error"); }
      catch (e) { console.log(e.name, e instanceof Deno.errors.NotCapable); console.log(e.message); }`;
    const r = await runDeno(["--allow-read"], script);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NotCapable true\n/);
    assert.match(r.stdout, /--allow-ffi/);
    assert.match(r.stdout, /DMABUF_KERNEL=simulated/);
    // Asking for the simulated kernel works without FFI.
    const sim = await runDeno(
      ["--allow-env=DMABUF_KERNEL"],
      `import { openHeap, kernelSelection } from "${MOD}";
       openHeap("system").allocate(4096);
       console.log(kernelSelection().reason);`,
      { DMABUF_KERNEL: "simulated" },
    );
    assert.equal(sim.stdout, "DMABUF_KERNEL=simulated\n", sim.stderr);
    const bogus = await runDeno(
      ["--allow-env=DMABUF_KERNEL"],
      `import { kernelSelection } from "${MOD}"; kernelSelection();`,
      { DMABUF_KERNEL: "bogus" },
    );
    assert.notEqual(bogus.code, 0);
    assert.match(bogus.stderr, /DMABUF_KERNEL: "bogus" is not a kernel choice; valid values/);
  },
});

// ---- properties never dropped -----------------------------------------------------------------

Deno.test("unknown roles and empty selectors are TypeErrors listing the valid roles", () => {
  const kernel = createSimMachine().process();
  for (const sel of [{}, { role: "bogus" }, { role: undefined }]) {
    assert.throws(() => openHeap(sel as never, { kernel }), (e: Error) => {
      assert.ok(e instanceof TypeError, e.message);
      assert.match(e.message, new RegExp(`valid roles: ${HEAP_ROLES.join(", ")}`));
      return true;
    });
  }
  assert.throws(() => openAllocator({ role: "bogus" as never, kernel }), TypeError);
  assert.throws(() => pickHeap(["system"], "bogus" as never), TypeError);
});

Deno.test("role contiguous without a CMA heap is NotFound listing the heaps, never udmabuf", () => {
  const kernel = createSimMachine({ cma: [] }).process();
  for (
    const open of [
      () => openAllocator({ role: "contiguous", kernel }),
      () => openHeap({ role: "contiguous" }, { kernel }),
    ]
  ) {
    assert.throws(open, (e: Error) => {
      assert.ok(e instanceof Deno.errors.NotFound, e.message);
      assert.match(e.message, /no contiguous heap; heaps present: system/);
      assert.ok(e.message.includes(CMA_HINT));
      return true;
    });
  }
  assert.throws(
    () => openAllocator({ role: "contiguous", fallback: true, kernel }),
    /no fallback for the contiguous role/,
  );
});

Deno.test("an allocator says what it is: name, role, contiguous", () => {
  const kernel = createSimMachine().process();
  using cma = openAllocator({ role: "contiguous", kernel });
  assert.equal(cma.role, "contiguous");
  assert.equal(cma.contiguous, true);
  assert.notEqual(cma.name, "udmabuf");
  using sys = openAllocator({ kernel });
  assert.deepEqual([sys.name, sys.role, sys.contiguous], ["system", "system", false]);
  using u = openAllocator({ name: "udmabuf", kernel });
  assert.deepEqual([u.name, u.path, u.role, u.contiguous], [
    "udmabuf",
    "/dev/udmabuf",
    "system",
    false,
  ]);
  using byName = openAllocator({ name: "system", kernel });
  assert.equal(byName.name, "system");
});

Deno.test("udmabuf stands in for the system heap only: refused heaps, role system", () => {
  const kernel = refusing(createSimMachine().process(), "/dev/dma_heap/");
  assert.throws(() => openHeap("system", { kernel }), (e: Error) => {
    assert.ok(e instanceof Deno.errors.PermissionDenied);
    assert.ok(e.message.includes(UDEV_HINT));
    return true;
  });
  using a = openAllocator({ kernel });
  assert.equal(a.name, "udmabuf");
  using buf = a.allocate(4096);
  assert.equal(buf.info().exporter, "udmabuf");
  assert.throws(() => openAllocator({ kernel, fallback: false }), Deno.errors.PermissionDenied);
  assert.throws(() => openAllocator({ kernel, name: "system" }), Deno.errors.PermissionDenied);
  assert.throws(
    () => openAllocator({ kernel, role: "contiguous" }),
    Deno.errors.PermissionDenied,
    "a refused CMA heap is not replaced by udmabuf",
  );
});

// ---- errors that name the cause and the fix ------------------------------------------------------

for (const [kind, kernel] of kernels()) {
  Deno.test(`[${kind}] mapping a read-only fd read-write says to map with access "read"`, () => {
    using heap = openHeap("system", { kernel });
    using buf = heap.allocate(8192, { fdFlags: O_RDONLY | O_CLOEXEC });
    assert.throws(() => buf.map(), (e: Error & { code?: string }) => {
      assert.ok(e instanceof Deno.errors.PermissionDenied, e.message);
      assert.equal(e.code, "EACCES");
      assert.match(e.message, /the fd is read-only \(O_RDONLY\)/);
      assert.match(e.message, /\{ access: "read" \}/);
      return true;
    });
    using m = buf.map({ access: "read" });
    m.read((b) => assert.equal(b[0], 0));
  });

  Deno.test(`[${kind}] receiveDmaBuf with a full fd table: EMFILE naming MSG_CTRUNC, no leak`, () => {
    const limit = nofile(kernel);
    if (limit === undefined || limit > 65536) {
      console.log(`skipped: RLIMIT_NOFILE ${limit} is too high to fill here`);
      return;
    }
    const [a, b] = UnixSocket.pair({ kernel });
    using heap = openHeap("system", { kernel });
    using buf = heap.allocate(4096);
    sendDmaBuf(a, buf);
    const fillers: number[] = [];
    try {
      for (;;) {
        try {
          fillers.push(kernel.open("/dev/null", O_RDONLY | O_CLOEXEC));
        } catch (e) {
          assert.equal((e as { code?: string }).code, "EMFILE");
          break;
        }
      }
      assert.throws(() => receiveDmaBuf(b), (e: Error & { code?: string }) => {
        assert.equal(e.code, "EMFILE", e.message);
        assert.match(e.message, /MSG_CTRUNC/);
        assert.match(e.message, /this process's fd table is full/);
        assert.match(e.message, /ulimit -n/);
        return true;
      });
    } finally {
      fillers.forEach((fd) => kernel.close(fd));
    }
    // The in-flight reference was dropped with the message: only the sender's fd holds the file.
    assert.equal(buf.info().count, 1, "nothing leaked");
    a.close();
    b.close();
  });

  Deno.test(`[${kind}] udmabuf above size_limit_mb names the module parameter`, () => {
    let dev;
    try {
      dev = openUdmabuf({ kernel });
    } catch (e) {
      console.log(`skipped: ${(e as Error).message}`);
      return;
    }
    using _dev = dev;
    const mb = Number(kernel.readText(UDMABUF_SIZE_LIMIT_PATH).trim());
    assert.ok(mb > 0);
    assert.throws(() => dev.allocate(mb * 2 ** 20 + 4096), (e: Error & { code?: string }) => {
      assert.equal(e.code, "EINVAL");
      assert.match(e.message, new RegExp(`size_limit_mb of ${mb} MiB`));
      assert.ok(e.message.includes(UDMABUF_SIZE_LIMIT_PATH));
      return true;
    });
    using ok = dev.allocate(4096);
    assert.equal(ok.size, 4096);
  });
}

/** RLIMIT_NOFILE's soft limit of this process, from /proc/self/limits, or the model's. */
function nofile(kernel: Kernel): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(kernel.readText("/proc/self/limits"));
    if (m) return Number(m[1]);
  } catch { /* the simulated kernel has no /proc/self/limits */ }
  return undefined;
}

Deno.test("[simulated] receiveDmaBuf into a full fd table (RLIMIT_NOFILE 64)", () => {
  const m = createSimMachine({ nofile: 64 });
  const kernel = m.process();
  const [a, b] = UnixSocket.pair({ kernel });
  using heap = openHeap("system", { kernel });
  using buf = heap.allocate(4096);
  sendDmaBuf(a, buf);
  const fillers: number[] = [];
  for (;;) {
    try {
      fillers.push(kernel.open("/dev/null", O_RDONLY | O_CLOEXEC));
    } catch {
      break;
    }
  }
  assert.throws(() => receiveDmaBuf(b), /EMFILE.*MSG_CTRUNC.*fd table is full/);
  kernel.close(fillers.pop()!);
  assert.equal(buf.info().count, 1, "the dropped fd's reference went with the message");
  sendDmaBuf(a, buf);
  using got = receiveDmaBuf(b);
  assert.equal(got.size, 4096, "with room again, the resend arrives");
  fillers.forEach((fd) => kernel.close(fd));
  a.close();
  b.close();
});

Deno.test("[simulated] takeDmaBuf refused (other uid, not dumpable) says what grants access", () => {
  const m = createSimMachine();
  const owner = m.process("owner", { uid: 1000, dumpable: false });
  const taker = m.process("taker", { uid: 1000 });
  using heap = openHeap("system", { kernel: owner });
  using buf = heap.allocate(4096);
  assert.throws(() => takeDmaBuf(owner.pid, buf.fd, { kernel: taker }), (e: Error) => {
    assert.ok(e instanceof Deno.errors.PermissionDenied);
    assert.match(e.message, /EPERM/);
    assert.match(e.message, /no ptrace access to process \d+/);
    assert.ok(e.message.includes(TAKE_HINT));
    assert.match(e.message, /PR_SET_PTRACER/);
    assert.match(e.message, /sendDmaBuf/);
    return true;
  });
});

// ---- loud leaks --------------------------------------------------------------------------------

const gc = (globalThis as { gc?: () => void }).gc;

async function collect(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 10));
  }
}

function leakBuffer(kernel: Kernel): void {
  const heap = openHeap("system", { kernel });
  const buf = heap.allocate(8192, { name: "leaky-frame" });
  heap.close();
  buf.map();
}

Deno.test({
  name: "a leaked buffer is reported once with kind, size, name and mappings",
  ignore: gc === undefined,
  async fn() {
    const reports: LeakReport[] = [];
    setLeakWarnings((r) => reports.push(r));
    try {
      const kernel = createSimMachine().process();
      const leaks = leakedCount();
      leakBuffer(kernel);
      await collect();
      const mine = reports.filter((r) => r.name === "leaky-frame");
      assert.equal(mine.length, 1);
      assert.equal(mine[0].kind, "DmaBuf");
      assert.equal(mine[0].size, 8192);
      assert.equal(mine[0].mappings, 1);
      assert.equal(mine[0].stack, undefined, "stacks only with DMABUF_DEBUG_LEAKS=1");
      assert.ok(leakedCount() >= leaks + 2, "fd and mapping counted");
      assert.match(formatLeak(mine[0]), /DMABUF_DEBUG_LEAKS=1/);
    } finally {
      setLeakWarnings(true);
    }
  },
});

Deno.test({
  name: "with allocation stacks on, the report names where the object was made",
  ignore: gc === undefined,
  async fn() {
    const reports: LeakReport[] = [];
    setLeakWarnings((r) => reports.push(r));
    leakStacks(true);
    try {
      leakBuffer(createSimMachine().process());
      await collect();
      const mine = reports.find((r) => r.name === "leaky-frame");
      assert.ok(mine?.stack, "a stack was recorded");
      assert.match(mine.stack, /leakBuffer/);
      assert.match(mine.stack, /trust_test\.ts/);
      assert.match(formatLeak(mine), /^dmabuf: leaked DmaBuf \(8192 bytes, name "leaky-frame"/);
      assert.match(formatLeak(mine), /\nAllocated:\n\s+at /);
    } finally {
      leakStacks(false);
      setLeakWarnings(true);
    }
  },
});

Deno.test({
  name: "leak warnings: one per object on stderr, rate limited, silenceable",
  ignore: gc === undefined,
  async fn() {
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (s: string) => void warnings.push(String(s));
    try {
      const kernel = createSimMachine().process();
      (() => {
        for (let i = 0; i < LEAK_WARNINGS_PER_WINDOW + 5; i++) openHeap("system", { kernel });
      })();
      await collect();
      const heaps = warnings.filter((w) => w.startsWith("dmabuf: leaked DmaHeap"));
      assert.ok(heaps.length > 0, "warned");
      assert.ok(warnings.length <= LEAK_WARNINGS_PER_WINDOW, `${warnings.length} warnings`);
      warnings.length = 0;
      setLeakWarnings(false);
      (() => openHeap("system", { kernel }))();
      await collect();
      assert.deepEqual(warnings, []);
    } finally {
      console.warn = warn;
      setLeakWarnings(true);
    }
  },
});
