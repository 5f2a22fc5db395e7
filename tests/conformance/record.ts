/**
 * Writes conformance observations once every case has run: the real-kernel runner to
 * `$DMABUF_CONFORMANCE_OUT`, the simulated one to `$DMABUF_CONFORMANCE_SIM_OUT`.
 */
import type { Observations } from "./harness.ts";

const variables = {
  linux: "DMABUF_CONFORMANCE_OUT",
  simulated: "DMABUF_CONFORMANCE_SIM_OUT",
} as const;

/** Registers a last test that writes `results` as JSON when the kernel's variable is set. */
export function recordResults(
  kernel: keyof typeof variables,
  results: Record<string, Observations | { skipped: string }>,
) {
  const variable = variables[kernel];
  Deno.test(`[${kernel}] conformance results are written when ${variable} is set`, () => {
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
