/**
 * Holds the simulated kernel against the real one: compares two conformance result files
 * (written by the conformance tests when `DMABUF_CONFORMANCE_OUT` is set) and fails on any
 * divergence, naming the case, the key and both values.
 *
 * Usage: deno run --allow-read tests/conformance/compare.ts simulated.json linux.json
 */
import { isDeepStrictEqual } from "node:util";

type Results = Record<string, Record<string, unknown>>;

/** Lists the differences between two result sets; skipped cases on either side are noted. */
export function compareResults(
  a: Results,
  b: Results,
  labels: [string, string] = ["a", "b"],
): { divergences: string[]; skipped: string[]; compared: number } {
  const divergences: string[] = [];
  const skipped: string[] = [];
  let compared = 0;
  for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[name], y = b[name];
    if (x === undefined || y === undefined) {
      divergences.push(`${name}: only in ${x === undefined ? labels[1] : labels[0]}`);
      continue;
    }
    if ("skipped" in x || "skipped" in y) {
      skipped.push(`${name}: skipped on ${"skipped" in x ? labels[0] : labels[1]}`);
      continue;
    }
    compared++;
    for (const key of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (!isDeepStrictEqual(x[key], y[key])) {
        divergences.push(
          `${name} › ${key}: ${labels[0]}=${JSON.stringify(x[key])} ${labels[1]}=${
            JSON.stringify(y[key])
          }`,
        );
      }
    }
  }
  return { divergences, skipped, compared };
}

if (import.meta.main) {
  const [fa, fb] = Deno.args;
  if (!fa || !fb) {
    console.error("usage: compare.ts <simulated.json> <linux.json>");
    Deno.exit(2);
  }
  const a = JSON.parse(Deno.readTextFileSync(fa)), b = JSON.parse(Deno.readTextFileSync(fb));
  const r = compareResults(a, b, [fa, fb]);
  for (const s of r.skipped) console.log(`skipped  ${s}`);
  for (const d of r.divergences) console.log(`DIVERGES ${d}`);
  console.log(`${r.compared} cases compared, ${r.divergences.length} divergences`);
  Deno.exit(r.divergences.length ? 1 : 0);
}
