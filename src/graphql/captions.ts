// attachCaptions and Video.captionTracks: placeholder while services/captions.ts is written (issue 14).
import type { AssetRefs } from "./asset.ts";
import type { Builder } from "./builder.ts";

export function addCaptionTypes(_builder: Builder, _refs: AssetRefs) {}
