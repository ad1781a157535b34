// schema/schema.graphql is what clients and reviewers read: it must match the code.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { SCHEMA_FILE } from "../../src/graphql/print-schema.ts";
import { printSpoolSchema } from "../../src/graphql/schema.ts";

describe("schema/schema.graphql", () => {
  it("is up to date with the code (run `npm run schema` after changing the schema)", async () => {
    const committed = await readFile(SCHEMA_FILE, "utf8");
    expect(committed === printSpoolSchema(), "schema/schema.graphql is stale: run `npm run schema` and commit it").toBe(true);
  });
});
