/**
 * One fuzzer child process: runs sequences `from … from+count-1` of a run and prints one line
 * per sequence (`@@BEGIN i@@` before it, `@@SEQ <json>@@` after it), so the parent knows which
 * sequence a crash interrupted. After a hang it prints the sequence and exits with status 3
 * (the process holds a call that never settled). Last, `@@PROFILE <json>@@`: milliseconds spent
 * per op name (cleanup and invariant checks under `"(invariants)"`). The kernel is the one the environment
 * selects (`DMABUF_KERNEL`, inherited from the parent); `@@KERNEL <kind>@@` says which.
 *
 * Usage: deno run --allow-ffi --allow-read --allow-env --v8-flags=--expose-gc child.ts \
 *   --seed S --from I --count N --calls C --hang-ms H [--trace]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { installErrorTags } from "./classify.ts";

installErrorTags();
const { sequenceSeed } = await import("./rng.ts");
const { runSequence, collect, PROFILE } = await import("./sequence.ts");
const lib = await import("../../mod.ts");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seed: { type: "string", default: "1" },
    from: { type: "string", default: "0" },
    count: { type: "string", default: "1" },
    calls: { type: "string", default: "50" },
    "hang-ms": { type: "string", default: "5000" },
    trace: { type: "boolean", default: false },
  },
});
const master = Number(values.seed), from = Number(values.from), count = Number(values.count);

// Warm up what the library opens once per process (libc, the kernel choice), outside any
// sequence's fd accounting.
const selection = lib.kernelSelection();
console.log(`@@KERNEL ${selection.kernel.kind} ${selection.reason}@@`);
lib.listHeaps();
await collect(1);
// Deno 2.9.6 makes a socketpair on its main thread some 0.6–0.8 s after start-up, whatever the
// program does (seen with `strace -f -e socketpair`): let it happen before the first sequence's
// fd snapshot, or it would count as a leak of that sequence. (The parent also sets
// DENO_NO_UPDATE_CHECK=1: the update check opens sockets of its own.)
if (selection.kernel.kind === "linux") {
  const k = selection.kernel;
  const sockets = () =>
    k.readDir("/proc/self/fd").filter((fd) => {
      try {
        return k.readLink(`/proc/self/fd/${fd}`).startsWith("socket:");
      } catch {
        return false;
      }
    }).length;
  const start = sockets(), until = performance.now() + 5000;
  while (sockets() < start + 2 && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (let i = from; i < from + count; i++) {
  console.log(`@@BEGIN ${i}@@`);
  const result = await runSequence(i, sequenceSeed(master, i), {
    calls: Number(values.calls),
    hangMs: Number(values["hang-ms"]),
    trace: values.trace,
  });
  console.log(`@@SEQ ${JSON.stringify(result)}@@`);
  if (result.hang) {
    printProfile();
    Deno.exit(3);
  }
}
printProfile();
Deno.exit(0);

/** Where this child's time went: ms per op name (the parent sums them over the run). */
function printProfile() {
  const ms: Record<string, number> = {};
  for (const [name, t] of PROFILE) ms[name] = Math.round(t);
  console.log(`@@PROFILE ${JSON.stringify(ms)}@@`);
}
