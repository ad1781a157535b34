// video.index's input, beside the media inputs' conventions (processors/media/inputs.ts):
// bounded numbers, lowercase enums, defaults that suit a talk or a screen recording.
import { z } from "zod";
import { ocrLanguage } from "../documents/inputs.ts";

export const INDEX_MODES = ["visual", "audio"] as const;
export type IndexMode = (typeof INDEX_MODES)[number];

export function indexInput() {
  return z.strictObject({
    videoId: z.uuid(),
    // No default: unset means both, VISUAL only where there is a picture (an audio file is
    // indexed for its AUDIO), while a VISUAL asked for by name on an audio file is refused.
    modes: z.array(z.enum(INDEX_MODES)).min(1).max(2).refine((m) => new Set(m).size === m.length, "name each mode once").optional()
      .describe("visual: text shown on screen (OCR of frames); audio: the subtitle streams inside the source. Default: both (visual where there is a picture)"),
    intervalSeconds: z.number().min(0.25).max(60).default(1).describe("a frame at least this often, besides one at every scene change"),
    sceneThreshold: z.number().min(0.05).max(0.95).default(0.3).describe("0..1: how different two frames must be to count as a cut"),
    language: ocrLanguage.describe("the Tesseract language of the on-screen text"),
    minConfidence: z.number().min(0).max(100).default(60).describe("OCR words below this confidence (0..100) are dropped"),
  });
}
export type IndexInput = z.infer<ReturnType<typeof indexInput>>;
