/**
 * The public-API fuzzer's driver: runs sequences (see `sequence.ts`) in child processes, many
 * sequences per child, so a crash (a signal, or any death of the process) is counted against
 * the sequence it interrupted and the run goes on with the next one. Classifies every public
 * call — ok, typed error, untyped error, hang — plus crashes per sequence and invariant failures
 * after each sequence.
 *
 * As a task: `deno task fuzz [--seed S] [--calls N] [--per-sequence C] [--per-child K]
 * [--hang-ms H] [--kernel linux|simulated] [--json] [--first I] [--out FILE] [--max-seconds T]` — the long
 * run (50,000 calls by default). `--out` keeps the summary in FILE, rewritten after every
 * sequence (a stopped run still tells what it found); `--max-seconds` starts no new child after T
 * seconds.
 * The children use the kernel the environment selects (`DMABUF_KERNEL`), or `--kernel`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { SequenceResult } from "./sequence.ts";

/** Options of {@linkcode fuzz}. */
export interface FuzzOptions {
  /** Master seed. */
  seed: number;
  /** Sequences to run. */
  sequences: number;
  /** Index of the first sequence (a failing input is a seed and an index). Default 0. */
  first?: number;
  /** Public calls per sequence. */
  perSequence: number;
  /** Sequences per child process. */
  perChild: number;
  /** An awaited call that takes longer is a hang (ms). */
  hangMs: number;
  /** `"linux"` or `"simulated"`; default: what `DMABUF_KERNEL` or the automatic choice says. */
  kernel?: string;
  /** Rerun a crashed sequence with tracing to name the call that crashed. Default true. */
  locate?: boolean;
  /** Progress lines to stderr: each problem as it is found, and a line per child process. */
  progress?: boolean;
  /**
   * A file the summary is written to (JSON, with `done: false`) after every sequence, and once
   * more at the end (`done: true`), so a run that is stopped still tells what it found.
   */
  out?: string;
  /** Start no new child process after this many seconds (the run reports what it did). */
  maxSeconds?: number;
}

/** A sequence that crashed, hung, or had untyped errors or invariant failures. */
export interface Problem {
  /** What kind. */
  kind: "crash" | "hang" | "untyped" | "invariant";
  /** The sequence's index. */
  index: number;
  /** Details: the call and error, the exit signal, the invariant. */
  detail: string;
}

/** What a run found. */
export interface FuzzSummary {
  /** The kernel the children used. */
  kernel: string;
  /** Master seed. */
  seed: number;
  /** Sequences run (including crashed ones). */
  sequences: number;
  /** Public calls made (calls of a crashed sequence up to the crash are not known and not counted). */
  calls: number;
  /** Calls by outcome, and crashed sequences. */
  counts: { ok: number; typed: number; untyped: number; hang: number; crash: number };
  /** Sequences whose invariants failed. */
  invariantFailures: number;
  /** Child processes started. */
  children: number;
  /** Wall time, ms. */
  elapsedMs: number;
  /** Everything that is not ok or typed. */
  problems: Problem[];
  /** Time from spawning a child to its first output line (Deno start-up, module load), ms. */
  startupMs: number;
  /** Time spent per op name over all children, ms (`"(invariants)"`: cleanup and checks). */
  profile: Record<string, number>;
  /** False while the run is going (in a checkpoint file). */
  done: boolean;
  /** True when `maxSeconds` stopped the run before all sequences ran. */
  stoppedEarly: boolean;
}

const CHILD = new URL("./child.ts", import.meta.url);

function kernelChoice(options: FuzzOptions): string {
  return options.kernel ?? Deno.env.get("DMABUF_KERNEL") ?? "auto";
}

interface ChildRun {
  results: SequenceResult[];
  kernel?: string;
  /** Index of the sequence in progress when the child died or was killed. */
  interrupted?: number;
  status: Deno.CommandStatus;
  killed: boolean;
  stderr: string;
  /** Spawn to first output line, ms. */
  startupMs?: number;
  profile?: Record<string, number>;
}

async function runChild(
  options: FuzzOptions,
  from: number,
  count: number,
  trace = false,
  onResult?: (r: SequenceResult) => void,
): Promise<ChildRun> {
  const spawned = performance.now();
  const env: Record<string, string> = { DENO_NO_UPDATE_CHECK: "1" };
  const k = kernelChoice(options);
  if (k !== "auto") env.DMABUF_KERNEL = k;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-env",
      "--v8-flags=--expose-gc",
      CHILD.href,
      `--seed=${options.seed}`,
      `--from=${from}`,
      `--count=${count}`,
      `--calls=${options.perSequence}`,
      `--hang-ms=${options.hangMs}`,
      ...(trace ? ["--trace"] : []),
    ],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  const run: ChildRun = { results: [], status: undefined!, killed: false, stderr: "" };
  // A child that prints nothing for this long is stuck outside any awaited call (a blocking
  // syscall, an endless loop): kill it, and count a hang for the sequence in progress.
  const silenceMs = options.hangMs * 3 + 30_000;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      run.killed = true;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, silenceMs);
  };
  arm();
  const stderr = (async () => {
    const chunks: string[] = [];
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
      chunks.push(c);
      if (chunks.length > 400) chunks.splice(0, 200);
    }
    return chunks.join("");
  })();
  let pending = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    arm();
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let m;
      run.startupMs ??= performance.now() - spawned;
      if ((m = /^@@KERNEL (\S+)/.exec(line))) run.kernel = m[1];
      else if ((m = /^@@PROFILE (.*)@@$/.exec(line))) run.profile = JSON.parse(m[1]);
      else if ((m = /^@@BEGIN (\d+)@@$/.exec(line))) run.interrupted = Number(m[1]);
      else if ((m = /^@@SEQ (.*)@@$/.exec(line))) {
        const r: SequenceResult = JSON.parse(m[1]);
        run.results.push(r);
        run.interrupted = undefined;
        onResult?.(r);
      }
    }
  }
  run.status = await child.status;
  clearTimeout(watchdog);
  run.stderr = await stderr;
  return run;
}

function crashDetail(run: ChildRun): string {
  const s = run.status;
  const how = s.signal ? `killed by ${s.signal}` : `exit ${s.code}`;
  const tail = run.stderr.trim().split("\n").filter((l) => l.trim()).slice(-3).join(" / ");
  return `${how}${tail ? `: ${tail.slice(0, 400)}` : ""}`;
}

/**
 * Runs the fuzzer.
 *
 * @param options Seed, sizes, hang limit, kernel.
 * @returns The figures and every problem found.
 */
export async function fuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const t0 = performance.now();
  const s: FuzzSummary = {
    kernel: kernelChoice(options),
    seed: options.seed,
    sequences: 0,
    calls: 0,
    counts: { ok: 0, typed: 0, untyped: 0, hang: 0, crash: 0 },
    invariantFailures: 0,
    children: 0,
    elapsedMs: 0,
    problems: [],
    startupMs: 0,
    profile: {},
    done: false,
    stoppedEarly: false,
  };
  let reported = 0;
  const say = (line: string) => {
    if (options.progress) console.error(line);
  };
  const progressLine = () =>
    `fuzz: ${s.sequences}/${options.sequences} sequences, ${s.calls} calls, ` +
    `${JSON.stringify(s.counts)}, ${s.invariantFailures} invariant failures, ` +
    `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const flush = () => {
    for (const p of s.problems.slice(reported)) {
      say(`fuzz: ${p.kind} in sequence ${p.index}: ${p.detail.slice(0, 600)}`);
    }
    reported = s.problems.length;
    s.elapsedMs = performance.now() - t0;
    if (options.out) {
      // Write then rename: a run stopped mid-write leaves the previous checkpoint whole.
      Deno.writeTextFileSync(`${options.out}.tmp`, JSON.stringify(s));
      Deno.renameSync(`${options.out}.tmp`, options.out);
    }
  };
  const take = (r: SequenceResult) => {
    s.sequences++;
    s.calls += r.calls;
    for (const k of ["ok", "typed", "untyped", "hang"] as const) s.counts[k] += r.counts[k];
    for (const u of r.untyped) {
      s.problems.push({
        kind: "untyped",
        index: r.index,
        detail: `seed ${r.seed} call ${u.at} ${u.call}: ${u.error}`,
      });
    }
    if (r.invariants.length) {
      s.invariantFailures++;
      for (const i of r.invariants) {
        s.problems.push({ kind: "invariant", index: r.index, detail: `seed ${r.seed}: ${i}` });
      }
    }
    if (r.hang) {
      s.problems.push({
        kind: "hang",
        index: r.index,
        detail:
          `seed ${r.seed} call ${r.hang.at} ${r.hang.call} did not settle in ${options.hangMs} ms`,
      });
    }
    flush();
  };
  const first = options.first ?? 0;
  let next = first;
  while (next < first + options.sequences) {
    if (
      options.maxSeconds !== undefined && (performance.now() - t0) / 1000 >= options.maxSeconds
    ) {
      s.stoppedEarly = true;
      say(`fuzz: --max-seconds ${options.maxSeconds} reached, stopping`);
      break;
    }
    const count = Math.min(options.perChild, first + options.sequences - next);
    const run = await runChild(options, next, count, false, take);
    s.children++;
    s.startupMs += run.startupMs ?? 0;
    for (const [name, ms] of Object.entries(run.profile ?? {})) {
      s.profile[name] = (s.profile[name] ?? 0) + ms;
    }
    if (run.kernel) s.kernel = run.kernel;
    const last = run.results.at(-1);
    next = last ? last.index + 1 : next;
    if (run.interrupted !== undefined) {
      // The child died (or was killed) inside a sequence.
      s.sequences++;
      const index = run.interrupted;
      let detail = run.killed
        ? `no output for ${options.hangMs * 3 + 30_000} ms, killed`
        : crashDetail(run);
      if (options.locate !== false && !run.killed) {
        const again = await runChild(options, index, 1, true);
        const calls = again.stderr.split("\n").filter((l) => l.startsWith("call "));
        detail +=
          ` — rerun: ${again.interrupted === index ? crashDetail(again) : "did not crash again"}` +
          (calls.length ? `; last call: ${calls.at(-1)}` : "");
      }
      if (run.killed) s.counts.hang++;
      else s.counts.crash++;
      s.problems.push({ kind: run.killed ? "hang" : "crash", index, detail });
      next = index + 1;
    } else if (!run.results.length || (run.status.code !== 0 && run.status.code !== 3)) {
      // Died outside any sequence (start-up, or after the last one): report and stop.
      s.counts.crash++;
      s.problems.push({
        kind: "crash",
        index: next,
        detail: `child outside a sequence: ${crashDetail(run)}`,
      });
      if (!run.results.length) {
        flush();
        break;
      }
    }
    flush();
    say(
      `${progressLine()} (child ${s.children}: ${run.results.length} sequences, ` +
        `start-up ${((run.startupMs ?? 0) / 1000).toFixed(1)} s)`,
    );
  }
  s.done = true;
  flush();
  return s;
}

/** The summary as a few lines of text. */
export function report(s: FuzzSummary, max = 40): string {
  const lines = [
    `kernel ${s.kernel}, seed ${s.seed}: ${s.sequences} sequences, ${s.calls} public calls, ` +
    `${s.children} child processes, ${(s.elapsedMs / 1000).toFixed(1)} s`,
    `  ok ${s.counts.ok}, typed error ${s.counts.typed}, untyped error ${s.counts.untyped}, ` +
    `hang ${s.counts.hang}, crash ${s.counts.crash} (sequences), invariant failures ${s.invariantFailures} (sequences)`,
  ];
  if (s.stoppedEarly) lines.push(`  stopped early (--max-seconds): not every sequence ran`);
  const spent = Object.entries(s.profile).sort((a, b) => b[1] - a[1]).slice(0, 8);
  if (spent.length) {
    lines.push(
      `  time: child start-up ${(s.startupMs / 1000).toFixed(1)} s; ops ` +
        spent.map(([n, ms]) => `${n} ${(ms / 1000).toFixed(1)} s`).join(", "),
    );
  }
  // Group problems by kind and a normalised detail, so one bug shows once with its first seed.
  const groups = new Map<string, { n: number; first: Problem }>();
  for (const p of s.problems) {
    const key = p.kind + " " +
      p.detail.replace(/^seed \d+ call \d+ /, "").replace(/^seed \d+: /, "")
        .replace(/\d+/g, "N").slice(0, 160);
    const g = groups.get(key);
    if (g) g.n++;
    else groups.set(key, { n: 1, first: p });
  }
  for (const { n, first } of [...groups.values()].slice(0, max)) {
    lines.push(
      `  ${first.kind} ×${n} (first: sequence ${first.index}) ${first.detail.slice(0, 500)}`,
    );
  }
  if (groups.size > max) lines.push(`  … ${groups.size - max} more kinds`);
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seed: { type: "string", default: "1" },
      calls: { type: "string", default: "50000" },
      "per-sequence": { type: "string", default: "50" },
      "per-child": { type: "string", default: "40" },
      first: { type: "string", default: "0" },
      out: { type: "string" },
      "max-seconds": { type: "string" },
      "hang-ms": { type: "string" },
      kernel: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const perSequence = Number(values["per-sequence"]);
  const kernel = values.kernel ?? Deno.env.get("DMABUF_KERNEL");
  const summary = await fuzz({
    seed: Number(values.seed),
    sequences: Math.ceil(Number(values.calls) / perSequence),
    perSequence,
    perChild: Number(values["per-child"]),
    first: Number(values.first),
    hangMs: Number(values["hang-ms"] ?? (kernel === "linux" ? 20000 : 5000)),
    kernel,
    progress: true,
    out: values.out,
    maxSeconds: values["max-seconds"] === undefined ? undefined : Number(values["max-seconds"]),
  });
  console.log(report(summary));
  if (values.json) console.log(JSON.stringify(summary));
  const bad = summary.counts.untyped + summary.counts.hang + summary.counts.crash +
    summary.invariantFailures;
  Deno.exit(bad ? 1 : 0);
}
