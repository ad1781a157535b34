// The normalized WebVTT Spool stores for every caption track, whatever it came from: what
// players (browsers' <track>, hls.js, Safari) read, and what the HLS package copies. UTF-8
// without a BOM, LF line ends, HH:MM:SS.mmm times, cues in time order, the STYLE and REGION
// blocks of a WebVTT source kept before the first cue (where WebVTT requires them).
import { formatTimestamp } from "./cue-text.ts";
import type { Cue } from "./parse.ts";

/** A cue identifier on one line that cannot be read as a timing or a block keyword. */
function cueId(id: string | null): string | null {
  if (!id) return null;
  const clean = id.replace(/[\r\n]+/g, " ").replace(/-->/g, "->").trim();
  return clean && !/^(NOTE|STYLE|REGION)(?:\s|$)/.test(clean) ? clean : null;
}

export function writeWebVtt(cues: readonly Cue[], blocks: readonly string[] = []): string {
  const out: string[] = ["WEBVTT", ""];
  for (const b of blocks) out.push(b, "");
  for (const c of cues) {
    const id = cueId(c.id);
    if (id) out.push(id);
    out.push(`${formatTimestamp(c.startMs)} --> ${formatTimestamp(c.endMs)}${c.settings ? ` ${c.settings}` : ""}`, ...c.lines, "");
  }
  return out.join("\n");
}
