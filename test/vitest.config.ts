import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  resolve: {
    // One graphql module, as in Node: vite would pick graphql's ESM build for our imports
    // while Pothos and yoga require() the CJS one, and graphql refuses to mix the two.
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Real Postgres, real child processes: two files at a time suits a 2-core machine.
    maxWorkers: 2,
  },
});
