// A written HLS/DASH package read back before it is stored (media.streaming). An exit code
// of 0 does not prove the package whole, so each playlist must be complete and every
// segment it or the manifest names must exist. HLS variants are measured here too: the
// master playlist's BANDWIDTH is the measured peak segment rate.
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { JobError } from "../../errors.ts";
import { parseMediaPlaylist } from "../../tools/hls.ts";

export type Measured = { segments: number; durationSec: number; bytes: number; peak: number; average: number };

/** Reads a variant playlist back, checks its segments exist, and measures its rates. */
export async function measureVariant(variantDir: string, segmentSeconds: number): Promise<Measured> {
  const playlist = parseMediaPlaylist(await readFile(path.join(variantDir, "index.m3u8"), "utf8"));
  if (!playlist.endList || playlist.segments.length === 0) {
    throw new JobError("TRANSCODING_FAILED", `ffmpeg left an incomplete playlist in ${path.basename(variantDir)} (${playlist.segments.length} segments, ENDLIST ${playlist.endList}).`);
  }
  const sized = [];
  for (const seg of playlist.segments) {
    if (seg.uri.includes("/") || seg.uri.includes("..")) throw new JobError("TRANSCODING_FAILED", `unexpected segment URI ${seg.uri}`);
    const st = await stat(path.join(variantDir, seg.uri)).catch(() => null);
    if (!st?.isFile()) throw new JobError("TRANSCODING_FAILED", `segment ${seg.uri} of ${path.basename(variantDir)} is missing`);
    sized.push({ ...seg, bytes: st.size });
  }
  const durationSec = sized.reduce((s, x) => s + x.durationSec, 0);
  const bytes = sized.reduce((s, x) => s + x.bytes, 0);
  // A final sliver (a few frames after the last boundary) has an inflated rate that says
  // nothing about what a player must sustain; the peak counts segments of at least half
  // the target unless there are none.
  const full = sized.filter((x) => x.durationSec >= segmentSeconds / 2);
  const peak = Math.max(...(full.length ? full : sized).map((x) => (x.bytes * 8) / Math.max(x.durationSec, 0.001)));
  return { segments: sized.length, durationSec, bytes, peak: Math.ceil(peak), average: Math.ceil((bytes * 8) / Math.max(durationSec, 0.001)) };
}

/** Bytes of every file below dir: a package's size. */
export async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}

/** Checks the DASH output: every representation of the manifest has its init and at least one media segment. */
export async function checkDash(dashDir: string): Promise<number> {
  const mpd = await readFile(path.join(dashDir, "manifest.mpd"), "utf8");
  if (!/<MPD[\s>]/.test(mpd)) throw new JobError("TRANSCODING_FAILED", "ffmpeg wrote no DASH manifest.");
  const ids = [...mpd.matchAll(/<Representation\b[^>]*\bid="(\d+)"/g)].map((m) => m[1]!);
  const files = new Set(await readdir(dashDir));
  for (const id of ids) {
    if (!files.has(`init-${id}.m4s`) || ![...files].some((f) => f.startsWith(`chunk-${id}-`))) {
      throw new JobError("TRANSCODING_FAILED", `DASH representation ${id} has no init or media segment.`);
    }
  }
  if (ids.length === 0) throw new JobError("TRANSCODING_FAILED", "The DASH manifest lists no representation.");
  return ids.length;
}
