/**
 * Two real processes share one dma-heap buffer (`examples/share.ts` in its child roles): over an
 * abstract Unix socket (SCM_RIGHTS) and with `pidfd_getfd` from the parent's pid. While both
 * hold it, `dmabuf dump --json` (a third process) reports the buffer shared by both pids.
 *
 * Runs only where this process can open `/dev/dma_heap/system` through FFI and spawn processes
 * (the real-kernel guests of `tools/kernel/`); skipped on the host and on the simulated kernel.
 *
 * @module
 */
import assert from "node:assert/strict";
import { openHeap } from "../../mod.ts";
import { sendDmaBuf, UnixListener } from "../../src/share/mod.ts";
import type { DmaBuf } from "../../mod.ts";
import { linuxKernel } from "../../src/kernel/linux.ts";
import type { ChildReport } from "../../examples/share.ts";

function whyNot(): string | undefined {
  if (Deno.build.os !== "linux") return "not Linux";
  for (const name of ["ffi", "run"] as const) {
    if (Deno.permissions.querySync({ name }).state !== "granted") return `no --allow-${name}`;
  }
  if (Deno.env.get("DMABUF_KERNEL") === "simulated") return "DMABUF_KERNEL=simulated";
  try {
    const k = linuxKernel();
    k.close(k.open("/dev/dma_heap/system", 0o2000002));
    return undefined;
  } catch (e) {
    return `no system heap: ${(e as Error).message}`;
  }
}
const SKIP = whyNot();

const example = new URL("../../examples/share.ts", import.meta.url).pathname;
const cli = new URL("../../cli.ts", import.meta.url).pathname;
const MESSAGE = "hello from the parent";

interface Child {
  report: ChildReport;
  release(): Promise<void>;
}

async function spawn(args: string[]): Promise<Child> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", example, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { DMABUF_KERNEL: "linux" },
  }).spawn();
  const reader = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      const err = await new Response(p.stderr).text();
      throw new Error(`child ${args[0]} exited before reporting: ${err}`);
    }
    text += value;
  }
  return {
    report: JSON.parse(text.slice(0, text.indexOf("\n"))),
    async release() {
      await p.stdin.close();
      await reader.cancel(); // the rest of stdout is not needed
      const err = await new Response(p.stderr).text();
      const status = await p.status;
      assert.equal(status.code, 0, err);
    },
  };
}

interface DumpRow {
  inode: number;
  pids: number[];
  fdRefs: Record<string, number>;
  mapRefs: Record<string, number>;
  count: number | null;
  name: string | null;
  pss: number;
}

async function dump(): Promise<DumpRow[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "dump", "--json"],
    env: { DMABUF_KERNEL: "linux" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)).buffers;
}

function fill(buf: DmaBuf): void {
  using map = buf.map();
  map.write((b) => b.set(new TextEncoder().encode(MESSAGE + "\0")));
}

Deno.test({
  name: "[guest] a child process receives a heap buffer over a Unix socket; dump shows both pids",
  ignore: SKIP !== undefined,
  async fn() {
    using heap = openHeap("system");
    using buf = heap.allocate(256 * 1024, { name: "to-child" });
    fill(buf);
    const inode = buf.info().inode;
    const name = `dmabuf-share-guest-${Deno.pid}`;
    using listener = UnixListener.listen("\0" + name);
    const pending = spawn(["child-socket", "@" + name]);
    {
      using conn = await listener.acceptAsync(120_000);
      sendDmaBuf(conn, buf);
    }
    const child = await pending;
    try {
      const r = child.report;
      assert.notEqual(r.pid, Deno.pid);
      assert.deepEqual([r.inode, r.size, r.name, r.head], [inode, 256 * 1024, "to-child", MESSAGE]);
      // The child's view: parent fd + child fd + child mapping.
      assert.equal(r.count, 3);
      const row = (await dump()).find((b) => b.inode === inode);
      assert.ok(row, `dump lists inode ${inode}`);
      assert.deepEqual(row.pids, [Deno.pid, r.pid].sort((a, b) => a - b));
      assert.deepEqual(row.fdRefs, { [Deno.pid]: 1, [r.pid]: 1 });
      assert.deepEqual(row.mapRefs, { [r.pid]: 1 });
      assert.equal(row.pss, 128 * 1024);
      assert.equal(row.name, "to-child");
    } finally {
      await child.release();
    }
    assert.equal(buf.info().count, 1); // the child's fd and mapping went with it
  },
});

Deno.test({
  name: "[guest] a child process takes a heap buffer with pidfd_getfd from the parent's pid",
  ignore: SKIP !== undefined,
  async fn() {
    using heap = openHeap("system");
    using buf = heap.allocate(64 * 1024, { name: "taken" });
    fill(buf);
    const inode = buf.info().inode;
    const child = await spawn(["child-take", String(Deno.pid), String(buf.fd)]);
    try {
      const r = child.report;
      assert.deepEqual([r.inode, r.size, r.name, r.head], [inode, 64 * 1024, "taken", MESSAGE]);
      assert.equal(buf.info().count, 3);
      const row = (await dump()).find((b) => b.inode === inode);
      assert.ok(row, `dump lists inode ${inode}`);
      assert.deepEqual(row.pids, [Deno.pid, r.pid].sort((a, b) => a - b));
      assert.deepEqual(row.fdRefs, { [Deno.pid]: 1, [r.pid]: 1 });
    } finally {
      await child.release();
    }
    assert.equal(buf.info().count, 1);
  },
});

Deno.test({
  name:
    "[guest] a Worker adopts a heap buffer by fd and reads it; toWorkerHandle gives up ownership",
  ignore: SKIP !== undefined,
  async fn() {
    const { toWorkerHandle } = await import("../../src/share/mod.ts");
    using heap = openHeap("system");
    const buf = heap.allocate(4096, { name: "to-worker" });
    fill(buf);
    const handle = toWorkerHandle(buf);
    assert.equal(buf.closed, true);
    const mod = new URL("../../src/share/mod.ts", import.meta.url).href;
    const code = `
      import { fromWorkerHandle } from "${mod}";
      self.onmessage = ({ data }) => {
        const buf = fromWorkerHandle(data);
        const map = buf.map({ access: "read" });
        const head = map.read((b) => new TextDecoder().decode(b.subarray(0, b.indexOf(0))));
        map.unmap();
        const info = buf.info();
        buf.close();
        self.postMessage({ head, name: info.name, count: info.count });
      };`;
    const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
    const worker = new Worker(url, { type: "module" });
    try {
      const reply = await new Promise<{ head: string; name: string; count: number }>((res, rej) => {
        worker.onmessage = (e) => res(e.data);
        worker.onerror = (e) => (e.preventDefault(), rej(new Error(e.message)));
        worker.postMessage(handle);
      });
      // One fd in the whole process now: the Worker's (the main thread gave its up).
      assert.deepEqual(reply, { head: MESSAGE, name: "to-worker", count: 1 });
      assert.throws(() => linuxKernel().fcntl(handle.fd, 1, 0), { code: "EBADF" });
    } finally {
      worker.terminate();
      URL.revokeObjectURL(url);
    }
  },
});
