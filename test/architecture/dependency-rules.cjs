// The house's layers for dependency-cruiser (test/architecture/layers.test.ts runs it).
// A module may import from its own layer or any layer below it, never above: the bottom
// (errors, log, config, uuid) knows nothing of Spool, tools/ nothing of the database, the
// engine nothing of subscriptions or job types' code, and only the composition root and the
// entry points see everything. graphql/ and http/ are one layer (the tus endpoint
// authenticates the way GraphQL does); cli/ sits above app.ts because commands may compose the
// app, the app never runs a command. Kept as data so the test can list each layer's name.
"use strict";

/** Bottom → top; `path` is matched against the module's path from the repository root. */
const LAYERS = [
  { name: "base", path: "^src/(errors|log|config|uuid)\\.ts$" },
  { name: "tools", path: "^src/tools/" },
  { name: "db", path: "^src/db/" },
  { name: "engine", path: "^src/engine/" },
  { name: "pubsub", path: "^src/pubsub/" },
  { name: "services", path: "^src/services/" },
  { name: "processors", path: "^src/processors/" },
  { name: "graphql+http", path: "^src/(graphql|http)/" },
  { name: "server", path: "^src/server\\.ts$" },
  { name: "app", path: "^src/app\\.ts$" },
  { name: "cli", path: "^src/cli/" },
  { name: "main", path: "^src/(main\\.ts|bin\\.js)$" },
];

/** dependency-cruiser's `forbidden` rules: no cycle, and for each layer no import of a higher one. */
function forbiddenRules(layers = LAYERS) {
  return [
    { name: "no-cycle", severity: "error", comment: "An import cycle: the modules cannot be read or loaded one after the other.", from: {}, to: { circular: true } },
    ...layers.slice(0, -1).map((layer, i) => ({
      name: `no-upward-from-${layer.name}`,
      severity: "error",
      comment: `${layer.name} imports a layer above it (${layers.slice(i + 1).map((l) => l.name).join(", ")}).`,
      from: { path: layer.path },
      to: { path: layers.slice(i + 1).map((l) => `(${l.path})`).join("|") },
    })),
  ];
}

module.exports = { LAYERS, forbiddenRules, ruleSet: { forbidden: forbiddenRules() } };
