// Caption tracks in the DASH manifest (media.streaming): each displayable track one text
// AdaptationSet of the manifest ffmpeg wrote, with one Representation whose BaseURL is the
// whole WebVTT file beside the manifest (subs/<n>.vtt): DASH players (dash.js, Shaka) load a
// side-loaded WebVTT track as one file, timed on the Period's timeline, which ffmpeg starts
// at the source's time 0 (every SegmentTimeline starts at t="0"), so the cues need no shift.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { JobError } from "../../errors.ts";

export type DashTextTrack = { label: string; language: string; kind: string; vtt: string };

function xmlText(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "").replace(/[\r\n\t]+/g, " ")
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

// xs:language, which MPD@lang is: a BCP-47 tag; anything else is "und".
const LANG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;

/** The manifest with one text AdaptationSet per track, after the sets ffmpeg wrote. */
export function withTextAdaptationSets(mpd: string, tracks: ReadonlyArray<Omit<DashTextTrack, "vtt"> & { uri: string; bandwidth: number }>): string {
  const end = mpd.lastIndexOf("</Period>");
  if (end < 0) throw new JobError("TRANSCODING_FAILED", "The DASH manifest has no Period to add the caption tracks to.");
  let nextId = Math.max(-1, ...[...mpd.matchAll(/<AdaptationSet\b[^>]*\bid="(\d+)"/g)].map((m) => Number(m[1]))) + 1;
  const indent = /\n(\t*)<\/Period>/.exec(mpd)?.[1] ?? "\t";
  const sets = tracks.map((t, i) => {
    const lang = LANG.test(t.language) ? t.language : "und";
    const role = t.kind === "CAPTIONS" ? "caption" : "subtitle";
    const pad = `${indent}\t`;
    return [
      `${pad}<AdaptationSet id="${nextId++}" contentType="text" mimeType="text/vtt" lang="${lang}">`,
      `${pad}\t<Role schemeIdUri="urn:mpeg:dash:role:2011" value="${role}"/>`,
      `${pad}\t<Label>${xmlText(t.label)}</Label>`,
      `${pad}\t<Representation id="text-${i}" bandwidth="${Math.max(1, Math.ceil(t.bandwidth))}">`,
      `${pad}\t\t<BaseURL>${t.uri}</BaseURL>`,
      `${pad}\t</Representation>`,
      `${pad}</AdaptationSet>`,
    ].join("\n");
  });
  const at = mpd.lastIndexOf("\n", end) + 1;
  return `${mpd.slice(0, at)}${sets.join("\n")}\n${mpd.slice(at)}`;
}

/** Writes each track beside the manifest and adds its AdaptationSet; `durationSec` sizes the bandwidth. */
export async function addDashSubtitles(dashDir: string, tracks: readonly DashTextTrack[], durationSec: number | null): Promise<void> {
  if (tracks.length === 0) return;
  await mkdir(path.join(dashDir, "subs"), { recursive: true });
  const listed = [];
  for (const [n, t] of tracks.entries()) {
    const uri = `subs/${n}.vtt`;
    await writeFile(path.join(dashDir, uri), t.vtt);
    listed.push({ ...t, uri, bandwidth: (Buffer.byteLength(t.vtt) * 8) / Math.max(1, durationSec ?? 1) });
  }
  const file = path.join(dashDir, "manifest.mpd");
  await writeFile(file, withTextAdaptationSets(await readFile(file, "utf8"), listed));
}
