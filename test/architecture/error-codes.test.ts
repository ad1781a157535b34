// The error catalogue (src/errors.ts) and the README's errors tables name the same codes:
// a code added in one place and not the other fails here.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors.ts";

/** graphql-yoga's own codes, which the README documents but Spool never throws. */
const YOGA_CODES = ["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST", "INTERNAL_SERVER_ERROR"];

/** The backticked codes in the first column of every table under an "Errors" heading. */
export function readmeErrorCodes(readme: string): string[] {
  const codes: string[] = [];
  let inErrors = false;
  for (const line of readme.split("\n")) {
    if (/^#{2,4} /.test(line)) inErrors = /^#{2,4} Errors\b/.test(line);
    if (!inErrors || !line.startsWith("| `")) continue;
    const first = line.split("|")[1]!;
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) codes.push(m[1]!);
  }
  return codes;
}

describe("error codes", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const documented = readmeErrorCodes(readme);

  it("documents every code of the catalogue in the README's errors tables", () => {
    const missing = Object.keys(ERROR_CODES).filter((c) => !documented.includes(c));
    expect(missing).toEqual([]);
  });

  it("documents no code that the catalogue lacks (yoga's own excepted)", () => {
    const unknown = documented.filter((c) => !(c in ERROR_CODES) && !YOGA_CODES.includes(c));
    expect(unknown).toEqual([]);
  });

  it("reads the tables it checks (a code dropped from a table is seen)", () => {
    const cut = readme.replace("| `JOB_TIMEOUT` |", "| JOB_TIMEOUT |");
    expect(readmeErrorCodes(cut)).not.toContain("JOB_TIMEOUT");
    expect(documented).toContain("JOB_TIMEOUT");
  });
});
