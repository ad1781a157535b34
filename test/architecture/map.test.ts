// The README's "Architecture" section is a map a newcomer follows file by file: it fails here
// when a file it names no longer exists (moved, renamed, split), or when the path of one job
// grows past 12 stops.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The text from `## Architecture` up to the next level-2 heading. */
export function architectureSection(readme: string): string {
  const start = readme.search(/^## Architecture\b/m);
  if (start < 0) return "";
  const rest = readme.slice(start);
  const next = rest.slice(3).search(/^## /m);
  return next < 0 ? rest : rest.slice(0, next + 3);
}

/** Every backticked repository path in `text`: starts at a top folder, ends in a file name or a `/`. */
export function namedPaths(text: string): string[] {
  const found = [...text.matchAll(/`((?:src|test|prisma|schema)\/[\w./-]*)`/g)].map((m) => m[1]!.replace(/[.,:;]+$/, ""));
  return [...new Set(found)];
}

/** The numbered stops of the job's path: the first numbered list of the section. */
export function stops(section: string): string[] {
  const lines = section.split("\n");
  const first = lines.findIndex((l) => /^1\. /.test(l));
  if (first < 0) return [];
  const out: string[] = [];
  for (const line of lines.slice(first)) {
    if (/^\d+\. /.test(line)) out.push(line);
    else if (line.trim() !== "" && !/^\s/.test(line)) break;
  }
  return out;
}

const section = architectureSection(readFileSync(`${ROOT}/README.md`, "utf8"));

describe("README → Architecture", () => {
  it("is there, with the path of one job in at most 12 stops, each naming its file", () => {
    expect(section, "README.md has no `## Architecture` section").not.toBe("");
    const path = stops(section);
    expect(path.length).toBeGreaterThan(3);
    expect(path.length).toBeLessThanOrEqual(12);
    for (const stop of path) expect(namedPaths(stop), `a stop that names no file: ${stop}`).not.toEqual([]);
  });

  it("names only files and folders that exist", () => {
    const paths = namedPaths(section);
    expect(paths.length).toBeGreaterThan(5);
    expect(paths.filter((p) => !existsSync(`${ROOT}/${p}`))).toEqual([]);
  });

  it("points at the glossary where it is", () => {
    const glossary = readFileSync(`${ROOT}/src/engine/types.ts`, "utf8").slice(0, 4000);
    expect(section).toMatch(/src\/engine\/types\.ts/);
    expect(glossary).toMatch(/\blease\b/);
  });
});

describe("the map's checks themselves", () => {
  const fake = "## Architecture\n\nIntro `src/nowhere.ts`.\n\n1. `src/a.ts` — one\n   more\n2. two, no file\n\nafter\n3. not a stop\n\n## Next\n`src/b.ts`\n";
  it("read the section, its stops and its paths", () => {
    const s = architectureSection(fake);
    expect(s).not.toMatch(/Next/);
    expect(stops(s)).toEqual(["1. `src/a.ts` — one", "2. two, no file"]);
    expect(namedPaths(s)).toEqual(["src/nowhere.ts", "src/a.ts"]);
    expect(namedPaths(s).filter((p) => !existsSync(`${ROOT}/${p}`))).toEqual(["src/nowhere.ts", "src/a.ts"]);
  });
});
