/**
 * One dma-buf, two processes, no copies. The parent allocates a buffer from the `system` heap,
 * writes into it, and hands it to a child process twice: over a Unix socket (SCM_RIGHTS) and by
 * letting the child take it from the parent's fd table (`pidfd_getfd`). Each child maps the
 * buffer, reads what the parent wrote, and reports the kernel's view (`count`, inode).
 *
 *   deno run -A examples/share.ts                       # parent (spawns the children)
 *   deno run -A examples/share.ts child-socket <name>   # child: connect to <name>, receive
 *                                                       # (`@x` names the abstract socket "\0x")
 *   deno run -A examples/share.ts child-take <pid> <fd> # child: take fd <fd> of process <pid>
 *
 * A child prints one JSON line, then holds the buffer until its stdin closes, so that
 * `dmabuf dump` can see it held by both processes meanwhile.
 *
 * On the simulated kernel there is no second OS process that could share the simulated machine,
 * so the parent role runs both sides as two processes of one `SimMachine` instead.
 */
import { getKernel } from "@dmabuf/dmabuf/kernel";
import { openHeap } from "@dmabuf/dmabuf";
import {
  receiveDmaBuf,
  sendDmaBuf,
  takeDmaBuf,
  UnixListener,
  UnixSocket,
} from "@dmabuf/dmabuf/share";
import type { DmaBuf } from "@dmabuf/dmabuf";
import type { Kernel } from "@dmabuf/dmabuf/kernel";
import { createSimMachine } from "@dmabuf/dmabuf/sim";

/** What a child reports. */
export interface ChildReport {
  role: string;
  pid: number;
  inode: number;
  size: number;
  name: string | null;
  count: number;
  head: string;
}

const decoder = new TextDecoder();
const MESSAGE = "hello from the parent";

function report(role: string, k: Kernel, buf: DmaBuf): { report: ChildReport; map: unknown } {
  const map = buf.map({ access: "read" });
  const head = map.read((b) => decoder.decode(b.subarray(0, b.indexOf(0))));
  const info = buf.info();
  return {
    report: {
      role,
      pid: k.getpid(),
      inode: info.inode,
      size: buf.size,
      name: info.name ?? null,
      count: info.count,
      head,
    },
    map,
  };
}

async function holdUntilStdinCloses(): Promise<void> {
  for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
}

async function child(role: string, args: string[]): Promise<void> {
  const k = getKernel();
  let buf: DmaBuf;
  if (role === "child-socket") {
    // argv cannot carry a NUL: "@name" stands for the abstract name "\0name".
    const name = args[0].startsWith("@") ? "\0" + args[0].slice(1) : args[0];
    using sock = UnixSocket.connect(name);
    buf = receiveDmaBuf(sock); // blocks until the parent sends
  } else {
    buf = takeDmaBuf(Number(args[0]), Number(args[1]));
  }
  const { report: r } = report(role, k, buf);
  console.log(JSON.stringify(r));
  await holdUntilStdinCloses();
  buf.close();
}

/** Spawns this file in a child role; returns its first stdout line and a release function. */
async function spawn(
  args: string[],
): Promise<{ report: ChildReport; release: () => Promise<void> }> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`The child ${args[0]} exited before reporting`);
    text += value;
  }
  return {
    report: JSON.parse(text.slice(0, text.indexOf("\n"))),
    release: async () => {
      await p.stdin.close();
      await lines.cancel(); // the rest of stdout is not needed
      const status = await p.status;
      if (!status.success) throw new Error(`The child ${args[0]} failed: ${status.code}`);
    },
  };
}

function write(buf: DmaBuf): void {
  using map = buf.map();
  map.write((b) => b.set(new TextEncoder().encode(MESSAGE + "\0")));
}

async function parentLinux(): Promise<void> {
  using heap = openHeap("system");
  using buf = heap.allocate(1 << 20, { name: "shared-frame" });
  write(buf);
  const name = `dmabuf-share-example-${Deno.pid}`;
  using listener = UnixListener.listen("\0" + name);
  const viaSocket = spawn(["child-socket", "@" + name]);
  {
    using conn = await listener.acceptAsync(60_000);
    sendDmaBuf(conn, buf);
  }
  const a = await viaSocket;
  console.log("over a socket:  ", a.report);
  const b = await spawn(["child-take", String(Deno.pid), String(buf.fd)]);
  console.log("with pidfd_getfd:", b.report);
  console.log(
    "parent's view:   count",
    buf.info().count,
    "(parent fd + 2 children × (fd + mapping))",
  );
  await a.release();
  await b.release();
  console.log("children gone:   count", buf.info().count);
}

function parentSimulated(): void {
  const m = createSimMachine();
  const parent = m.process("parent"), child1 = m.process("child"), child2 = m.process("taker");
  using heap = openHeap("system", { kernel: parent });
  using buf = heap.allocate(1 << 20, { name: "shared-frame" });
  write(buf);
  using listener = UnixListener.listen("\0example", { kernel: child1 });
  using conn = UnixSocket.connect("\0example", { kernel: parent });
  using inbox = listener.accept();
  sendDmaBuf(conn, buf);
  using got = receiveDmaBuf(inbox);
  console.log("over a socket:  ", report("child-socket", child1, got).report);
  using taken = takeDmaBuf(parent.pid, buf.fd, { kernel: child2 });
  console.log("with pidfd_getfd:", report("child-take", child2, taken).report);
  console.log("parent's view:   count", buf.info().count);
}

if (import.meta.main) {
  const [role, ...rest] = Deno.args;
  if (role === "child-socket" || role === "child-take") await child(role, rest);
  else if (getKernel().kind === "simulated") parentSimulated();
  else await parentLinux();
}
