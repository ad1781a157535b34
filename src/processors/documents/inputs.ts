// Input pieces shared by the document job types that read text.
import { z } from "zod";
import { installedOcrLanguages } from "../../tools/ocr/languages.ts";

export const ocrMode = z.enum(["auto", "always", "never"]).default("auto")
  .describe("auto: OCR only pages without a text layer; always: every page; never: text layer only");

// Read once per process: every submit and every claimed document job validates the language,
// and a language installed later needs a restart anyway (README).
let installedOnce: string[] | null = null;

/** A Tesseract language code whose data is installed (English ships; see the README for others). */
export const ocrLanguage = z.string().default("eng").superRefine((code, ctx) => {
  const installed = (installedOnce ??= installedOcrLanguages());
  if (!installed.includes(code)) {
    ctx.addIssue({ code: "custom", message: `OCR language ${code} is not installed; installed: ${installed.join(", ") || "none"}. Add it with npm install @tesseract.js-data/${/^[a-z_]+$/i.test(code) ? code : "<code>"}.` });
  }
});
