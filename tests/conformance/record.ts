/**
 * Writes conformance observations once every case has run: the real-kernel runner to
 * `$DMABUF_CONFORMANCE_OUT`, the simulated one to `$DMABUF_CONFORMANCE_SIM_OUT`.
 */
import assert from "node:assert/strict";
import { cases, type Observations } from "./mod.ts";

const variables = {
  linux: "DMABUF_CONFORMANCE_OUT",
  simulated: "DMABUF_CONFORMANCE_SIM_OUT",
} as const;

/**
 * Registers a last test that checks every case left a record in `results` (its observations,
 * or why it was skipped) — a case that failed before recording fails it too — and writes
 * `results` as JSON when the kernel's variable is set.
 */
export function recordResults(
  kernel: keyof typeof variables,
  results: Record<string, Observations | { skipped: string }>,
): void {
  const variable = variables[kernel];
  Deno.test(`[${kernel}] every conformance case recorded its observations`, () => {
    assert.deepEqual(cases.map((c) => c.name).filter((n) => !(n in results)), []);
    let out: string | undefined;
    try {
      out = Deno.env.get(variable);
    } catch {
      out = undefined;
    }
    if (!out) return;
    Deno.writeTextFileSync(out, JSON.stringify(results, null, 1) + "\n");
    console.log(`  wrote ${Object.keys(results).length} cases to ${out}`);
  });
}
