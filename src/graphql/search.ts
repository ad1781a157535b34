// search(query, modes, filter, first, after): placeholder while services/search.ts is written (issue 14).
import type { AssetRefs } from "./asset.ts";
import type { Builder } from "./builder.ts";

export function addSearchTypes(_builder: Builder, _refs: AssetRefs) {}
