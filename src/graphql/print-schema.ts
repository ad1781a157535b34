// `npm run schema`: writes schema/schema.graphql from the code-first schema.
// test/graphql/schema-file.test.ts fails when the committed file is stale.
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { printSpoolSchema } from "./schema.ts";

export const SCHEMA_FILE = fileURLToPath(new URL("../../schema/schema.graphql", import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(SCHEMA_FILE, printSpoolSchema());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
