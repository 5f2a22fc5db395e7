/**
 * Issue 10's "done means", on a real kernel: run by tools/kernel/trust-scenarios.sh inside the
 * Debian guest, without DMABUF_KERNEL, in one of three set-ups named by DMABUF_TRUST_SCENARIO:
 *
 * - `nonroot`  a user that is not root, the heap nodes at the kernel's default root 0600,
 *              `/dev/udmabuf` open to users (as systemd's uaccess makes it);
 * - `noheaps`  root, `/dev/dma_heap` emptied, `/dev/udmabuf` working;
 * - `nonodes`  root, no dma-buf node at all: the only case where the simulated kernel is chosen.
 *
 * Ignored everywhere else (the host suite, the guest's main `deno test`).
 */
import assert from "node:assert/strict";
import { kernelSelection, listHeaps, openAllocator, openHeap } from "../../mod.ts";
import { main } from "../../cli.ts";
import { UDEV_HINT } from "../../src/heaps/heap.ts";
import { TAKE_HINT, takeDmaBuf } from "../../src/share/dmabuf.ts";

const scenario = Deno.env.get("DMABUF_TRUST_SCENARIO");
const only = (name: string) => ({ ignore: scenario !== name });

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = { code: -1, out: "", err: "" };
  r.code = await main(args, {
    stdout: (t) => void (r.out += t),
    stderr: (t) => void (r.err += t),
  });
  return r;
}

/** `deno run` of a script on stdin with the given flags, DMABUF_KERNEL unset. */
async function runDeno(flags: string[], code: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", ...flags, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { NO_COLOR: "1", HOME: Deno.env.get("HOME") ?? "/tmp" },
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(code));
  await w.close();
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

const MOD = new URL("../../mod.ts", import.meta.url).href;

function uid(): number {
  const m = /^Uid:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"));
  return Number(m![1]);
}

Deno.test({
  name: "[nonroot] the Linux kernel is chosen although no heap opens",
  ...only("nonroot"),
}, () => {
  assert.notEqual(uid(), 0, "runs as a user that is not root");
  const { kernel, reason } = kernelSelection();
  assert.equal(kernel.kind, "linux", reason);
  assert.match(reason, /dma-buf device nodes present: .*\/dev\/dma_heap\/system/);
});

Deno.test({
  name: '[nonroot] openHeap("system") is PermissionDenied with the udev hint',
  ...only("nonroot"),
}, () => {
  assert.throws(() => openHeap("system"), (e: Error & { code?: string }) => {
    assert.ok(e instanceof Deno.errors.PermissionDenied, e.message);
    assert.equal(e.code, "EACCES");
    assert.ok(e.message.includes(UDEV_HINT), e.message);
    return true;
  });
  const system = listHeaps().find((h) => h.name === "system");
  assert.deepEqual([system?.accessible, system?.error], [false, "EACCES"]);
});

Deno.test(
  { name: "[nonroot] openAllocator() returns the real udmabuf", ...only("nonroot") },
  () => {
    using a = openAllocator();
    assert.deepEqual([a.name, a.path, a.role, a.contiguous], [
      "udmabuf",
      "/dev/udmabuf",
      "system",
      false,
    ]);
    using buf = a.allocate(10_000, { name: "nonroot" });
    const info = buf.info();
    assert.equal(info.exporter, "udmabuf");
    assert.equal(info.size, 12288);
    using m = buf.map();
    m.write((b) => b.fill(0x5a));
    m.read((b) => assert.equal(b[12287], 0x5a));
    assert.throws(() => openAllocator({ role: "contiguous" }), Deno.errors.NotFound);
  },
);

Deno.test(
  { name: "[nonroot] cli heaps shows system … EACCES and exits 3", ...only("nonroot") },
  async () => {
    const r = await cli(["heaps"]);
    assert.equal(r.code, 3, r.out + r.err);
    assert.match(r.out, /^Kernel: .*\[linux; dma-buf device nodes present/);
    assert.match(r.out, /\nsystem\s+\/dev\/dma_heap\/system\s+system\s+no \(EACCES\)\n/);
    assert.match(r.out, /udmabuf: \/dev\/udmabuf opens/);
    const j = JSON.parse((await cli(["heaps", "--json"])).out);
    assert.equal(j.kernel.kind, "linux");
    assert.equal(j.heaps[0].error, "EACCES");
    // As a process, the way a user runs it (deno task cli heaps).
    const p = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-ffi",
        "--allow-read",
        "--allow-env",
        new URL("../../cli.ts", import.meta.url).pathname,
        "heaps",
      ],
      env: { NO_COLOR: "1", DMABUF_KERNEL: "" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(p.stdout);
    assert.equal(p.code, 3, out + new TextDecoder().decode(p.stderr));
    assert.match(out, /system .* no \(EACCES\)/);
  },
);

Deno.test({
  name: "[nonroot] without --allow-ffi the first call says what to grant",
  ...only("nonroot"),
}, async () => {
  const r = await runDeno(
    ["--allow-read"],
    `import { openAllocator } from "${MOD}";
     try { openAllocator(); console.log("no error"); }
     catch (e) { console.log(e.name); console.log(e.message); }`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^NotCapable\n/);
  assert.match(r.stdout, /--allow-ffi/);
  assert.match(r.stdout, /DMABUF_KERNEL=simulated/);
});

Deno.test({
  name: "[nonroot] takeDmaBuf from root's process is EPERM with the hint",
  ...only("nonroot"),
}, () => {
  // pid 1 is the guest's init, root's: ptrace access is refused to this user.
  assert.throws(() => takeDmaBuf(1, 0), (e: Error & { code?: string }) => {
    assert.ok(e instanceof Deno.errors.PermissionDenied, e.message);
    assert.equal(e.code, "EPERM");
    assert.ok(e.message.includes(TAKE_HINT), e.message);
    return true;
  });
});

Deno.test({
  name: "[noheaps] an empty /dev/dma_heap with udmabuf: Linux, udmabuf, NotFound",
  ...only("noheaps"),
}, async () => {
  const { kernel, reason } = kernelSelection();
  assert.equal(kernel.kind, "linux", reason);
  assert.equal(reason, "dma-buf device nodes present: /dev/udmabuf");
  assert.throws(() => openHeap("system"), /this kernel has no dma-heaps/);
  assert.throws(
    () => openAllocator({ role: "contiguous" }),
    /no contiguous heap; heaps present: none/,
  );
  using a = openAllocator();
  assert.equal(a.name, "udmabuf");
  using buf = a.allocate(4096);
  assert.equal(buf.info().exporter, "udmabuf");
  const r = await cli(["heaps"]);
  assert.equal(r.code, 4, r.out + r.err);
  assert.match(r.out, /\[linux; dma-buf device nodes present: \/dev\/udmabuf\]/);
  assert.match(r.out, /No dma-heaps/);
  assert.match(r.out, /udmabuf: \/dev\/udmabuf opens/);
});

Deno.test({
  name: "[nonodes] no dma-buf node at all: the simulated kernel, and it says why",
  ...only("nonodes"),
}, () => {
  const { kernel, reason } = kernelSelection();
  assert.equal(kernel.kind, "simulated", reason);
  assert.match(reason, /no dma-buf device node/);
});
