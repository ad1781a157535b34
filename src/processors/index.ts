// The product's processors. Media and document processors register here as they land.
// Processors that store files need the asset services; without them (engine-only tests)
// only the storage-free processors are registered.
import type pg from "pg";
import type { AssetServices } from "../services/assets.ts";
import { assetIngest } from "./asset-ingest.ts";
import { ProcessorRegistry } from "./registry.ts";
import { systemCleanup } from "./system-cleanup.ts";

export function createRegistry(deps?: { assets: AssetServices; pool: pg.Pool }): ProcessorRegistry {
  const registry = new ProcessorRegistry().register(systemCleanup(deps?.assets));
  if (deps) registry.register(assetIngest(deps.assets, deps.pool));
  return registry;
}
