// The house's shape, checked: no import cycle, no import of a higher layer (the layers are in
// dependency-rules.cjs), every src file in a layer, and no src file over 400 lines. Each
// failure lists every offender, so one run says everything that is left to fix. The last
// block runs the same checks on a tiny synthetic tree, to prove each one can fail.
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cruise, type ICruiseResult } from "dependency-cruiser";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);
const rules = require("./dependency-rules.cjs") as {
  LAYERS: Array<{ name: string; path: string }>;
  ruleSet: { forbidden: unknown[] };
};

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAX_LINES = 400;
/** Written by prisma generate and pothos-prisma-types, not by us. */
const GENERATED = "^src/generated/";

/** Every rule broken under `baseDir`/src, one line each: `rule: from → to` (a cycle lists its path). */
async function violations(baseDir: string): Promise<{ lines: string[]; modules: string[] }> {
  const { output } = await cruise(["src"], {
    baseDir,
    validate: true,
    ruleSet: rules.ruleSet as never,
    exclude: { path: GENERATED },
    doNotFollow: { path: "node_modules" },
    // swc, not tsc: dependency-cruiser reads TypeScript through the compiler's JS API, which
    // TypeScript 7 (native) no longer has. swc reports type-only imports too, and they count:
    // a layer that needs a higher layer's type depends on it.
    parser: "swc",
  });
  const result = output as ICruiseResult;
  const lines = result.summary.violations.map((v) => {
    const cycle = v.cycle?.length ? ` (cycle: ${[v.from, ...v.cycle.map((c) => c.name)].join(" → ")})` : "";
    return `${v.rule.name}: ${v.from} → ${v.to}${cycle}`;
  });
  const modules = result.modules.filter((m) => !m.coreModule && !m.couldNotResolve && m.source.startsWith("src/")).map((m) => m.source);
  return { lines: [...new Set(lines)].sort(), modules };
}

/** src files (outside src/generated) that belong to no layer. */
function unlayered(modules: string[]): string[] {
  return modules.filter((m) => !new RegExp(GENERATED).test(m) && !rules.LAYERS.some((l) => new RegExp(l.path).test(m))).sort();
}

/** `path: lines` for every .ts/.js file under `baseDir`/src (outside src/generated) longer than MAX_LINES. */
async function oversized(baseDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(path.join(baseDir, "src"), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.(ts|js|cjs|mjs)$/.test(entry.name)) continue;
    const rel = path.relative(baseDir, path.join(entry.parentPath, entry.name)).split(path.sep).join("/");
    if (new RegExp(GENERATED).test(rel)) continue;
    const text = await readFile(path.join(baseDir, rel), "utf8");
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lines > MAX_LINES) found.push(`${rel}: ${lines} lines`);
  }
  return found.sort();
}

describe("src/", () => {
  it("has no import cycle and no upward import", async () => {
    const { lines } = await violations(ROOT);
    expect(lines, `layers (bottom → top): ${rules.LAYERS.map((l) => l.name).join(" → ")}`).toEqual([]);
  });

  it("puts every file in a layer", async () => {
    const { modules } = await violations(ROOT);
    expect(modules.length).toBeGreaterThan(50);
    expect(unlayered(modules)).toEqual([]);
  });

  it(`has no file over ${MAX_LINES} lines`, async () => {
    expect(await oversized(ROOT)).toEqual([]);
  });
});

describe("the checks themselves", () => {
  it("fail on a cycle, an upward import (type-only included), a file in no layer and a long file", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "spool-layers-"));
    try {
      const put = async (rel: string, text: string) => {
        await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
        await writeFile(path.join(dir, rel), text);
      };
      await put("src/engine/loop.ts", `import type { Listener } from "../pubsub/listener.ts";\nexport type Loop = { l: Listener };\n`);
      await put("src/pubsub/listener.ts", `import type { Loop } from "../engine/loop.ts";\nexport type Listener = { loop?: Loop };\n`);
      await put("src/tools/a.ts", `import { b } from "./b.ts";\nexport const a = () => b;\n`);
      await put("src/tools/b.ts", `import { a } from "./a.ts";\nexport const b = () => a;\n`);
      await put("src/stray.ts", `export const stray = 1;\n`);
      await put("src/tools/long.ts", "export const x = 1;\n".repeat(MAX_LINES + 1));
      await put("src/generated/long.ts", "export const y = 1;\n".repeat(MAX_LINES + 1));

      const { lines, modules } = await violations(dir);
      expect(lines).toEqual([
        "no-cycle: src/engine/loop.ts → src/pubsub/listener.ts (cycle: src/engine/loop.ts → src/pubsub/listener.ts → src/engine/loop.ts)",
        "no-cycle: src/tools/a.ts → src/tools/b.ts (cycle: src/tools/a.ts → src/tools/b.ts → src/tools/a.ts)",
        "no-upward-from-engine: src/engine/loop.ts → src/pubsub/listener.ts",
      ]);
      expect(unlayered(modules)).toEqual(["src/stray.ts"]);
      expect(await oversized(dir)).toEqual([`src/tools/long.ts: ${MAX_LINES + 1} lines`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
