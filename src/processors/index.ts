// The product's processors. Media and document processors register here as they land.
import { ProcessorRegistry } from "./registry.ts";
import { systemCleanup } from "./system-cleanup.ts";

export function createRegistry(): ProcessorRegistry {
  return new ProcessorRegistry().register(systemCleanup);
}
