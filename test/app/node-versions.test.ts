// The Node versions Spool claims are the ones it is tested on (issue 12, item 21): `engines`
// in package.json lists caret ranges, one per LTS line; CI (.ci/run) runs the suite on the
// machine's Node and again on the newest of those lines; the README says the same. This file
// runs in both of CI's runs, so each Node that runs the suite must be one `engines` accepts.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = (file: string) => fileURLToPath(new URL(`../../${file}`, import.meta.url));
type Version = [number, number, number];

/** "^20.19.0 || ^22.15.0" → [[20, 19, 0], [22, 15, 0]]; anything but caret ranges is refused. */
function caretRanges(engines: string): Version[] {
  return engines.split("||").map((part) => {
    const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(part.trim());
    if (!m) throw new Error(`engines.node part "${part.trim()}" is not a caret range (^major.minor.patch)`);
    return [Number(m[1]), Number(m[2]), Number(m[3])];
  });
}

const accepts = (ranges: Version[], [major, minor, patch]: Version) =>
  ranges.some(([M, m, p]) => M === major && (minor > m || (minor === m && patch >= p)));

async function engines(): Promise<Version[]> {
  const pkg = JSON.parse(await readFile(root("package.json"), "utf8")) as { engines: { node: string } };
  return caretRanges(pkg.engines.node);
}

describe("supported Node versions", () => {
  it("engines accepts the Node running this suite", async () => {
    const running = process.versions.node.split(".").map(Number) as Version;
    expect(accepts(await engines(), running), `Node ${process.versions.node} runs the tests but package.json's engines does not accept it`).toBe(true);
  });

  it("engines lists only LTS (even) lines and ends at the one .ci/run tests last", async () => {
    const ranges = await engines();
    expect(ranges.every(([major]) => major % 2 === 0)).toBe(true);
    const ci = await readFile(root(".ci/run"), "utf8");
    const newest = Number(/^NEWEST_LTS=(\d+)$/m.exec(ci)?.[1]);
    expect(newest).toBe(Math.max(...ranges.map(([major]) => major)));
  });

  it("the README's quick start names the same versions as engines", async () => {
    const readme = await readFile(root("README.md"), "utf8");
    const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("## The GraphQL API"));
    // "20.19+, 22.15+, 24.x or 26.x": the lowest version of each line.
    const named = [...quickStart.matchAll(/\b([1-9]\d)\.(?:(\d+)\+|x\b)/g)].map((m) => `${m[1]}.${m[2] ?? 0}`);
    expect(named).toEqual((await engines()).map(([major, minor]) => `${major}.${minor}`));
  });
});
