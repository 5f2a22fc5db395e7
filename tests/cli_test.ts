/**
 * The command-line tool, run in-process through `main(args, io)` with captured output.
 *
 * Tests marked [sim] run on the simulated kernel (`src/sim/`). The others run on any kernel:
 * usage errors, help, sizes, and `dump` on the synthetic tree in `fixtures/accounting/basic`.
 */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import { formatSize, parseSize } from "../src/cli/size.ts";
import { ExitCode } from "../src/cli/errors.ts";
import { getKernel, setKernel } from "../src/kernel/select.ts";
import { simulatedKernel } from "../src/sim/mod.ts";
import { errnoError } from "../src/errors.ts";
import { Errno } from "../src/uapi/errno.ts";
import { openHeap, UDEV_HINT } from "../src/heaps/heap.ts";
import type { Kernel } from "../src/kernel/types.ts";

const sim = (name: string) => ({ name: `[sim] ${name}` });

/** The kernel for the tests that do not allocate. */
const ANY_KERNEL = "simulated";

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(args: string[], extra: { tty?: boolean; hold?: () => Promise<void> } = {}) {
  const r: Run = { code: -1, out: "", err: "" };
  r.code = await main(args, {
    stdout: (t) => void (r.out += t),
    stderr: (t) => void (r.err += t),
    stderrIsTerminal: extra.tty ?? false,
    waitForRelease: extra.hold ?? (() => Promise.resolve()),
  });
  return r;
}

/** Asserts a failure printed exactly one line on stderr, without a stack trace. */
function oneLine(r: Run, pattern: RegExp): void {
  assert.equal(r.err.split("\n").filter(Boolean).length, 1, r.err);
  assert.doesNotMatch(r.err, /\n\s+at /);
  assert.match(r.err, /^dmabuf: /);
  assert.match(r.err, pattern);
}

/** `inner`, except that every open/read under `prefix` fails with EACCES. */
function refusing(inner: Kernel, prefix: string): Kernel {
  const guarded = new Set(["open", "readDir", "readText", "readLink"]);
  return new Proxy(inner, {
    get(target, prop) {
      // The target as receiver: kernels keep state in #private fields.
      const v = Reflect.get(target, prop, target);
      if (typeof v !== "function") return v;
      if (!guarded.has(prop as string)) return v.bind(target);
      return (path: string, ...rest: unknown[]) => {
        if (path.startsWith(prefix)) throw errnoError(Errno.EACCES, String(prop), { path });
        return v.call(target, path, ...rest);
      };
    },
  });
}

const FIX = new URL("./fixtures/accounting/basic/", import.meta.url).pathname;
const TREE = ["--proc", `${FIX}proc`, "--sys", `${FIX}sys`, "--debugfs", `${FIX}debug`];

// ---- sizes -------------------------------------------------------------------------------

Deno.test("parseSize() reads bytes and binary units", () => {
  const cases: [string, number][] = [
    ["4096", 4096],
    ["4MiB", 4 << 20],
    ["1.5 MiB", 1572864],
    ["64k", 65536],
    ["64K", 65536],
    ["64KB", 65536],
    ["2g", 2 ** 31],
    ["512B", 512],
    [" 16M ", 16 << 20],
    ["1.3k", 1332],
    ["0", 0],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
});

Deno.test("parseSize() rejects malformed and oversized sizes with a UsageError", () => {
  for (const bad of ["", "abc", "-4k", "4 MiBs", "4XB", "1e3", "0x10", "99999999P", "9999999T"]) {
    assert.throws(() => parseSize(bad), { name: "UsageError" }, bad);
  }
});

Deno.test("formatSize() picks the unit and keeps one decimal", () => {
  assert.equal(formatSize(0), "0 B");
  assert.equal(formatSize(1023), "1023 B");
  assert.equal(formatSize(1024), "1.0 KiB");
  assert.equal(formatSize(4 << 20), "4.0 MiB");
  assert.equal(formatSize(1572864), "1.5 MiB");
  assert.equal(formatSize(1024 * 1024 - 1), "1.0 MiB");
  assert.equal(formatSize(16 * 2 ** 40), "16.0 TiB");
});

Deno.test("formatSize() and parseSize() round-trip whole units", () => {
  for (const bytes of [4096, 65536, 1 << 20, 16 << 20, 3 * 2 ** 30]) {
    assert.equal(parseSize(formatSize(bytes)), bytes);
  }
});

// ---- usage and help ------------------------------------------------------------------------

Deno.test("main() with no command prints the help on stderr and exits 2", async () => {
  const r = await run([]);
  assert.equal(r.code, ExitCode.USAGE);
  assert.match(r.err, /Usage: dmabuf <command>/);
  assert.equal(r.out, "");
});

Deno.test("main() --help lists every command and exits 0", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  for (const c of ["heaps", "alloc", "info", "dump", "bench"]) assert.match(r.out, new RegExp(c));
});

Deno.test("<command> --help prints that command's usage", async () => {
  for (const c of ["heaps", "alloc", "info", "dump", "bench"]) {
    const r = await run([c, "--help"]);
    assert.equal(r.code, 0, c);
    assert.match(r.out, new RegExp(`^Usage: dmabuf ${c}`), c);
    const h = await run(["help", c]);
    assert.equal(h.out, r.out);
  }
});

Deno.test("main() usage errors exit 2 with one line", async () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /Unknown command: frobnicate/],
    [["help", "frobnicate"], /Unknown command: frobnicate/],
    [["heaps", "--bogus"], /Unknown option '--bogus'/],
    [["heaps", "system"], /heaps takes no argument, got system/],
    [["alloc"], /alloc needs --size/],
    [["alloc", "--size", "lots"], /Invalid size "lots"/],
    [["alloc", "--size", "0"], /--size must be greater than 0/],
    [["alloc", "--size"], /argument missing/],
    [
      ["alloc", "--size", "-5"],
      /Option '--size' needs a value; a value starting with '-' goes as --size=-5/,
    ],
    [["alloc", "--size", "4k", "extra"], /no positional argument/],
    [["info"], /exactly one argument/],
    [["info", "/proc/x/fd/1"], /Expected an fd number or \/proc\/<pid>\/fd\/<n>/],
    [["dump", "abc"], /Invalid pid "abc"/],
    [["dump", "1", "2"], /at most one pid/],
    [["bench", "--iterations", "0"], /--iterations must be an integer/],
    [["bench", "--sizes", "4k,,1M"], /Invalid size ""/],
    [["heaps", "--kernel", "windows"], /--kernel must be linux, simulated or auto/],
  ];
  for (const [args, pattern] of cases) {
    const r = await run(args);
    assert.equal(r.code, ExitCode.USAGE, args.join(" "));
    oneLine(r, pattern);
  }
});

// ---- dump on the synthetic tree ---------------------------------------------------------------

Deno.test("dump on a saved tree prints per-process Rss/Pss and the buffer × process table", async () => {
  const r = await run(["dump", "--kernel", ANY_KERNEL, ...TREE]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Kernel: /);
  assert.match(r.out, /\ncamera:100\n/);
  // frame-0 is 1 MiB shared by two processes: Rss 1 MiB, Pss 512 KiB, nr_procs 2.
  assert.match(r.out, /frame-0\s+1\.0 MiB\s+512\.0 KiB\s+2\s+11\s+system/);
  assert.match(r.out, /PROCESS TOTAL\s+1\.1 MiB\s+576\.0 KiB/);
  // camera holds inode 11 through two fds and one mapping; compositor maps 13 only.
  assert.match(r.out, /\n\s+11\s+1\.0 MiB\s+system\s+frame-0\s+4\s+2\(1\)\s+1\(0\)/);
  assert.match(r.out, /\n\s+13\s+16\.0 KiB\s+system\s+<none>\s+1\s+-\s+0\(1\)/);
  assert.match(r.out, /dmabuf total: 5\.1 MiB\s+kernel_rss: 4\.0 MiB/);
  assert.match(r.out, /Exited during the scan: 400/);
});

Deno.test("dump -b adds every exported buffer, kernel-only ones included, and exporter totals", async () => {
  const r = await run(["dump", "-b", "--kernel", ANY_KERNEL, ...TREE]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\nAll exported buffers:\n/);
  assert.match(r.out, /\n\s+14\s+4\.0 MiB\s+system\s+kernel-only\s+1\s+vgem\s+kernel only\n/);
  assert.match(
    r.out,
    /\n\s+12\s+64\.0 KiB\s+reserved\s+<none>\s+1\s+vivid-000-vid-cap,vgem\s+camera:100\n/,
  );
  assert.match(
    r.out,
    /Per exporter:\n\s+Exporter\s+Buffers\s+Size\n\s+system\s+4\s+5\.0 MiB\n\s+reserved\s+1\s+64\.0 KiB\n/,
  );
  const plain = await run(["dump", "--kernel", ANY_KERNEL, ...TREE]);
  assert.doesNotMatch(plain.out, /All exported buffers/);
});

Deno.test("dump --json has stable keys and the same numbers as the library", async () => {
  const r = await run(["dump", "--json", "--kernel", ANY_KERNEL, ...TREE]);
  assert.equal(r.code, 0, r.err);
  const d = JSON.parse(r.out);
  assert.deepEqual(Object.keys(d), [
    "kernel",
    "scope",
    "buffers",
    "processes",
    "unreadable",
    "vanished",
    "sources",
    "exported",
    "exporters",
    "totals",
  ]);
  assert.deepEqual(Object.keys(d.kernel), ["kind", "description", "reason"]);
  assert.equal(d.kernel.kind, ANY_KERNEL);
  assert.equal(d.scope, "all");
  assert.deepEqual(
    d.buffers.map((b: { inode: number; pids: number[] }) => [b.inode, b.pids]),
    [[11, [100, 200]], [12, [100]], [13, [200]], [15, [300]]],
  );
  assert.deepEqual(Object.keys(d.buffers[0]), [
    "inode",
    "size",
    "sizeFrom",
    "exporter",
    "name",
    "count",
    "fdRefs",
    "mapRefs",
    "pids",
    "pss",
  ]);
  assert.equal(d.totals.userspacePss, d.totals.userspaceRss);
});

Deno.test("dump <pid> of a process that does not exist exits 4", async () => {
  const r = await run(["dump", "400", "--kernel", ANY_KERNEL, ...TREE]);
  assert.equal(r.code, ExitCode.NOT_FOUND);
  oneLine(r, /cannot read process 400 \(ENOENT\)/);
});

Deno.test("dump <pid> of a process that may not be read exits 3 with the ptrace hint", async () => {
  // The kernel in use, refusing /proc/300 as Linux refuses another user's process.
  setKernel(ANY_KERNEL);
  setKernel(refusing(getKernel(), "/proc/300/"));
  try {
    const r = await run(["dump", "300"]);
    assert.equal(r.code, ExitCode.PERMISSION);
    oneLine(r, /cannot read process 300 \(EACCES\): requires PTRACE_MODE_READ or root/);
    const j = JSON.parse((await run(["dump", "300", "--json"])).out);
    assert.deepEqual(j.unreadable, [{
      pid: 300,
      code: "EACCES",
      reason: "requires PTRACE_MODE_READ or root",
      path: "/proc/300/fdinfo",
    }]);
  } finally {
    setKernel(null);
  }
});

Deno.test("dump groups unreadable processes by reason and still exits 0", async () => {
  // A /proc listing two processes of another user: both refused, as Linux does.
  setKernel(ANY_KERNEL);
  const inner = refusing(getKernel(), "/proc/30");
  setKernel(
    new Proxy(inner, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (prop === "readDir") {
          return (p: string) => p === "/proc" ? ["300", "301", "self"] : v.call(target, p);
        }
        return typeof v === "function" ? v.bind(target) : v;
      },
    }),
  );
  try {
    const r = await run(["dump"]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /Could not read:\n {2}pids 300, 301 \(EACCES: requires PTRACE_MODE_READ or root\)\n/,
    );
    assert.match(r.out, /No dma-buf is held by a process that could be read/);
  } finally {
    setKernel(null);
  }
});

// ---- commands on the simulated kernel ----------------------------------------------------------

/** Runs `fn` with the simulated kernel selected (one instance, shared with the library calls). */
async function onSim(fn: (k: Kernel) => Promise<void>, kernel?: Kernel): Promise<void> {
  const k = kernel ?? simulatedKernel();
  setKernel(k);
  try {
    await fn(k);
  } finally {
    setKernel(null);
  }
}

/** A kernel whose heap nodes are root-only (0600), as on a stock distribution. */
function rootOnlyHeaps(inner: Kernel): Kernel {
  return refusing(inner, "/dev/dma_heap/");
}

Deno.test(sim("heaps lists the system heap, shows the kernel, exits 0"), () =>
  onSim(async (k) => {
    const r = await run(["heaps"]);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.startsWith(`Kernel: ${k.description}`));
    assert.match(r.out, /\nsystem\s+\/dev\/dma_heap\/system\s+system\s+yes\n/);
    const j = JSON.parse((await run(["heaps", "--json"])).out);
    assert.deepEqual(Object.keys(j), ["kernel", "heaps", "hint", "udmabuf"]);
    assert.deepEqual(j.udmabuf, { path: "/dev/udmabuf", accessible: true, error: null });
    assert.match(r.out, /\nudmabuf: \/dev\/udmabuf opens\n$/);
    const system = j.heaps.find((h: { name: string }) => h.name === "system");
    assert.deepEqual(system, {
      name: "system",
      path: "/dev/dma_heap/system",
      role: "system",
      accessible: true,
      error: null,
    });
    assert.equal(j.hint, null);
  }));

Deno.test(
  sim("heaps on root-only nodes shows EACCES rows, the udev hint once, exits 3"),
  () =>
    onSim(async () => {
      const r = await run(["heaps"]);
      assert.equal(r.code, ExitCode.PERMISSION);
      assert.match(r.out, /no \(EACCES\)/);
      assert.equal(r.out.split(UDEV_HINT).length - 1, 1);
    }, rootOnlyHeaps(simulatedKernel())),
);

Deno.test(
  sim("alloc on root-only nodes exits 3 with the udev hint in one line"),
  () =>
    onSim(async () => {
      const r = await run(["alloc", "--size", "4k"]);
      assert.equal(r.code, ExitCode.PERMISSION);
      oneLine(r, /EACCES.*udev rule/);
    }, rootOnlyHeaps(simulatedKernel())),
);

Deno.test(
  sim("alloc prints fd, size and inode; --json agrees with fdinfo"),
  () =>
    onSim(async () => {
      const r = await run(["alloc", "--size", "1.5 MiB", "--name", "frame-0"]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Allocated 1\.5 MiB \(1572864 bytes\) from system: fd \d+, inode \d+/);
      const j = JSON.parse((await run(["alloc", "--size", "5000", "--json"])).out);
      assert.deepEqual(Object.keys(j), [
        "kernel",
        "heap",
        "pid",
        "fd",
        "size",
        "inode",
        "exporter",
        "name",
        "held",
      ]);
      assert.equal(j.size, 8192, "rounded up to pages");
      assert.equal(j.exporter, "system");
      assert.equal(j.name, null);
      assert.ok(j.inode > 0);
    }),
);

Deno.test(
  sim("alloc errors: no such heap exits 4, a 32-byte name exits 1"),
  () =>
    onSim(async () => {
      const missing = await run(["alloc", "--heap", "nope", "--size", "4k"]);
      assert.equal(missing.code, ExitCode.NOT_FOUND);
      oneLine(missing, /no heap named "nope"; heaps present: .*system/);
      const long = await run(["alloc", "--size", "4k", "--name", "x".repeat(32)]);
      assert.equal(long.code, ExitCode.FAILED);
      oneLine(long, /EINVAL.*at most 31/);
    }),
);

Deno.test(
  sim("alloc --hold keeps the buffer visible to dump until released"),
  () =>
    onSim(async (k) => {
      let seen: { inode: number; name: string | null; pids: number[] }[] = [];
      const r = await run(["alloc", "--size", "64k", "--name", "held", "--hold", "--json"], {
        hold: async () => {
          const d = await run(["dump", "--json"]);
          assert.equal(d.code, 0, d.err);
          seen = JSON.parse(d.out).buffers;
        },
      });
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /Holding fd \d+ \(inode \d+\)/);
      const inode = JSON.parse(r.out).inode;
      const held = seen.find((b) => b.inode === inode);
      assert.ok(held, `dump saw inode ${inode}: ${JSON.stringify(seen)}`);
      assert.equal(held.name, "held");
      // Released: a second dump no longer sees it.
      const after = JSON.parse((await run(["dump", "--json"])).out);
      assert.equal(after.buffers.some((b: { inode: number }) => b.inode === inode), false);
      void k;
    }),
);

Deno.test(
  sim("dump on the simulated kernel counts this process's fds and mappings"),
  () =>
    onSim(async (k) => {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(2 * 4096, { name: "mapped" });
      using _dup = buf.dup();
      using _map = buf.map({ length: 4096 });
      const pid = Number(k.readLink("/proc/self"));
      const d = JSON.parse((await run(["dump", "--json"])).out);
      assert.equal(d.scope, "all", "the simulated /proc lists every process, as root sees it");
      const b = d.buffers.find((x: { name: string }) => x.name === "mapped");
      assert.deepEqual(
        [b.size, b.fdRefs, b.mapRefs, b.pids, b.count],
        [8192, { [pid]: 2 }, { [pid]: 1 }, [pid], 3],
      );
      const r = await run(["dump", String(pid)]);
      assert.equal(r.code, 0, r.err);
      const row = new RegExp(
        `\\n\\s+${buf.info().inode}\\s+8\\.0 KiB\\s+system\\s+mapped\\s+3\\s+2\\(1\\)`,
      );
      assert.match(r.out, row);
    }),
);

Deno.test(
  sim("info <fd> shows a buffer of this process; a non-dma-buf exits 1"),
  () =>
    onSim(async (k) => {
      using heap = openHeap("system", { kernel: k });
      using buf = heap.allocate(8192, { name: "probe" });
      const r = await run(["info", String(buf.fd)]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Size\s+8\.0 KiB \(8192 bytes\)/);
      assert.match(r.out, /Name\s+probe/);
      const j = JSON.parse((await run(["info", `/proc/self/fd/${buf.fd}`, "--json"])).out);
      assert.equal(j.inode, buf.info().inode);
      assert.equal(j.exporter, "system");
      assert.equal(j.name, "probe");
      assert.equal(j.access, "O_RDWR");
      assert.equal(j.cloexec, true);
      assert.equal(j.pid, Number(k.readLink("/proc/self")), "self resolved to the pid");
      const missing = await run(["info", "999"]);
      assert.equal(missing.code, ExitCode.NOT_FOUND);
      oneLine(missing, /fd 999 is not open/);
      const fd = k.memfdCreate("not-a-dmabuf", 0);
      try {
        const plain = await run(["info", String(fd)]);
        assert.equal(plain.code, ExitCode.FAILED);
        oneLine(plain, /not a dma-buf/);
      } finally {
        k.close(fd);
      }
    }),
);

Deno.test(
  sim("bench --json reports one row per size with ordered statistics"),
  () =>
    onSim(async () => {
      const r = await run(["bench", "--sizes", "4k,64k", "--iterations", "3", "--json"]);
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out);
      assert.equal(j.heap, "system");
      assert.deepEqual(j.results.map((x: { size: number }) => x.size), [4096, 65536]);
      for (const x of j.results) {
        assert.equal(x.iterations, 3);
        assert.ok(x.minUs <= x.medianUs && x.medianUs <= x.maxUs && x.minUs > 0);
      }
      assert.equal(r.err, "", "no progress bar when stderr is not a terminal");
    }),
);

Deno.test(
  sim("bench draws a progress bar on a terminal and prints the table"),
  () =>
    onSim(async () => {
      const r = await run(["bench", "--sizes", "4k", "--iterations", "2"], { tty: true });
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /\r\[#+\.*\] 4\.0 KiB 1\/2/);
      assert.match(r.err, /\r\[#{30}\] 4\.0 KiB 2\/2/);
      assert.ok(r.err.endsWith("\r\x1b[K"), "the bar is cleared");
      assert.match(r.out, /Size\s+Iterations\s+Mean\s+Median\s+Min\s+Max\n\s*4\.0 KiB\s+2\s/);
    }),
);

Deno.test(
  sim("the kernel line names the simulated kernel and why it was chosen"),
  () =>
    onSim(async () => {
      const j = JSON.parse((await run(["heaps", "--json", "--kernel", "simulated"])).out);
      assert.equal(j.kernel.kind, "simulated");
      assert.equal(j.kernel.reason, "--kernel simulated");
      assert.equal(getKernel().kind, "simulated");
    }),
);

Deno.test("alloc refuses more than MemTotal (the OOM killer), exit 1", async () => {
  setKernel(ANY_KERNEL);
  const base = getKernel();
  setKernel(
    new Proxy(base, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (prop === "readText") {
          return (p: string) =>
            p === "/proc/meminfo"
              ? "MemTotal:        1024 kB\nMemFree:  512 kB\n"
              : v.call(target, p);
        }
        return typeof v === "function" ? v.bind(target) : v;
      },
    }),
  );
  try {
    const r = await run(["alloc", "--size", "2MiB"]);
    assert.equal(r.code, ExitCode.FAILED);
    oneLine(r, /ENOMEM: 2\.0 MiB is more than this machine's memory \(MemTotal 1\.0 MiB\)/);
  } finally {
    setKernel(null);
  }
});

// ---- the tool as a process ---------------------------------------------------------------------

const CLI = new URL("../cli.ts", import.meta.url).pathname;
const CAN_RUN = Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state ===
  "granted";

function spawn(args: string[], env: Record<string, string> = {}) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-read", "--allow-env", CLI, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test({
  name: "cli.ts as a process: a usage error exits 2 with one line and no stack",
  ignore: !CAN_RUN,
  async fn() {
    const child = spawn(["alloc", "--size", "many"]);
    await child.stdin.close();
    const { code, stdout, stderr } = await child.output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, ExitCode.USAGE);
    assert.equal(new TextDecoder().decode(stdout), "");
    assert.equal(
      err,
      'dmabuf: Invalid size "many": expected a number with an optional unit ' +
        "(4096, 64k, 4MiB, 1.5 GiB)\n",
    );
  },
});

async function holdAndRelease(release: (child: Deno.ChildProcess) => Promise<void>) {
  const child = spawn(["alloc", "--size", "4k", "--hold", "--json"], {
    DMABUF_KERNEL: "simulated",
  });
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let err = "";
  while (!err.includes("Holding")) {
    const { value, done } = await reader.read();
    if (done) break;
    err += value;
  }
  assert.match(err, /Holding fd \d+/);
  await release(child);
  const [status, out] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    reader.cancel(),
  ]);
  await child.stdin.close().catch(() => {}); // already closed by an EOF release
  assert.equal(status.code, 0);
  assert.equal(JSON.parse(out).held, true);
}

Deno.test({
  ...sim("alloc --hold as a process releases at end of standard input"),
  ignore: !CAN_RUN,
  fn: () => holdAndRelease((child) => child.stdin.close()),
});

Deno.test({
  ...sim("alloc --hold as a process releases on SIGINT (Ctrl-C)"),
  ignore: !CAN_RUN,
  fn: () =>
    holdAndRelease((child) => {
      child.kill("SIGINT"); // standard input stays open: only the signal can release
      return Promise.resolve();
    }),
});

// ---- issue 10 / 12 §7: version, JSON errors, the kernel as chosen, --hold explained -------------

Deno.test("--version prints the package version; with --json as JSON", async () => {
  const denoJson = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  const r = await run(["--version"]);
  assert.equal(r.code, 0);
  assert.match(r.out, new RegExp(`^dmabuf ${denoJson.version.replaceAll(".", "\\.")} \\(`));
  assert.deepEqual(JSON.parse((await run(["--version", "--json"])).out), {
    version: denoJson.version,
  });
});

Deno.test("errors under --json are { error: { code, errno, message } } on stdout", async () => {
  const usage = await run(["alloc", "--json"]);
  assert.equal(usage.code, ExitCode.USAGE);
  assert.deepEqual(JSON.parse(usage.out), {
    error: { code: "USAGE", errno: null, message: "alloc needs --size <size>" },
  });
  oneLine(usage, /alloc needs --size/);
  await onSim(async () => {
    const missing = await run(["alloc", "--heap", "nope", "--size", "4k", "--json"]);
    assert.equal(missing.code, ExitCode.NOT_FOUND);
    const j = JSON.parse(missing.out);
    assert.deepEqual(Object.keys(j), ["error"]);
    assert.equal(j.error.code, "ENOENT");
    assert.equal(j.error.errno, 2);
    assert.match(j.error.message, /no heap named "nope"/);
  });
});

Deno.test(sim("--kernel is reported as chosen, --kernel auto chooses again"), async () => {
  try {
    const j = JSON.parse((await run(["heaps", "--json", "--kernel", "simulated"])).out);
    assert.equal(j.kernel.reason, "--kernel simulated");
    const text = await run(["heaps", "--kernel", "simulated"]);
    assert.match(text.out, /^Kernel: .*\[simulated; --kernel simulated\]\n/);
    const auto = JSON.parse((await run(["heaps", "--json", "--kernel", "auto"])).out);
    assert.notEqual(auto.kernel.reason, "--kernel simulated");
  } finally {
    setKernel(null);
  }
});

Deno.test(
  sim("alloc --hold on the simulated kernel says only this process sees it"),
  () =>
    onSim(async () => {
      const r = await run(["alloc", "--size", "4k", "--hold"]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /in the simulated kernel of this process .*only this process sees it/);
    }),
);

Deno.test(
  sim("heaps exits 3 when any heap is refused, even if another opens"),
  () =>
    onSim(async () => {
      const r = await run(["heaps"]);
      assert.equal(r.code, ExitCode.PERMISSION, r.out);
      assert.match(r.out, /global_cma@68000000 .* no \(EACCES\)/);
      assert.match(r.out, /\nsystem .* yes\n/);
    }, refusing(simulatedKernel(), "/dev/dma_heap/global")),
);
