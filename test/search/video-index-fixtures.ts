// Videos with burnt-in text at known times, made by ffmpeg's drawtext (DejaVu Sans Bold from
// the dejavu-fonts-ttf package) over moving, textured pictures, with each binary under test.
// The text is drawn the way real videos carry it: subtitles in white on a dark band, a
// lower-third in yellow on a box, a title in black on a light card.
import { createRequire } from "node:module";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { generate } from "../media/fixtures.ts";

const FONT = join(dirname(createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json")), "ttf", "DejaVuSans-Bold.ttf");

/** drawtext shown from `from` (inclusive) to `to` (exclusive), in seconds. */
export function text(s: string, from: number, to: number, style: "subtitle" | "lower-third" | "card", size = 40): string {
  const when = `enable='gte(t\\,${from})*lt(t\\,${to})'`;
  const look = {
    subtitle: "fontcolor=white:borderw=2:bordercolor=black:box=1:boxcolor=black@0.6:boxborderw=10:x=(w-tw)/2:y=h-th-40",
    "lower-third": "fontcolor=yellow:box=1:boxcolor=black@0.5:boxborderw=8:x=40:y=40",
    card: "fontcolor=black:box=1:boxcolor=white@0.9:boxborderw=12:x=(w-tw)/2:y=(h-th)/2",
  }[style];
  return `drawtext=fontfile=${FONT}:text='${s}':fontsize=${size}:${look}:${when}`;
}

const X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-pix_fmt", "yuv420p"];

/**
 * 12 s at 640x360 25 fps: testsrc2 (moving, colourful, with its own clock) until a hard cut at
 * 6.6 s to a zooming Mandelbrot set; "HARBOUR" as a subtitle 2.0–5.0 s, "LIGHTHOUSE 42" as a
 * lower-third 7.5–10.0 s. AAC audio, so it is a whole video and not a picture stream.
 */
export function harbourVideo(ffmpeg: string, out: string): Promise<string> {
  return generate(ffmpeg, [
    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=6.6",
    "-f", "lavfi", "-i", "mandelbrot=size=640x360:rate=25,trim=duration=5.4,setpts=PTS-STARTPTS",
    "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=12",
    "-filter_complex", `[0:v][1:v]concat=n=2:v=1:a=0,${text("HARBOUR", 2, 5, "subtitle")},${text("LIGHTHOUSE 42", 7.5, 10, "lower-third")}[v]`,
    "-map", "[v]", "-map", "2:a", ...X264, "-c:a", "aac", "-b:a", "64k", "-f", "mp4",
  ], out);
}

/**
 * Variable frame rate as screen recorders write it: 30 fps with three frames of eight
 * dropped and jittered millisecond times, in WebM; "MARINA" as a card 1.0–3.0 s of 4 s.
 */
export function vfrVideo(ffmpeg: string, out: string): Promise<string> {
  return generate(ffmpeg, [
    "-f", "lavfi", "-i", "testsrc2=size=480x270:rate=30:duration=4,noise=alls=20:allf=t+u",
    "-vf", `${text("MARINA", 1, 3, "card")},select='lt(mod(n\\,8)\\,5)',setpts='PTS+0.004*sin(N)/TB'`, "-vsync", "vfr", "-r", "1000",
    "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "600k", "-an", "-f", "webm",
  ], out);
}

/** 0.6 s, a single scene with "BEACON" on it the whole time (a clip shorter than the interval). */
export function shortClip(ffmpeg: string, out: string): Promise<string> {
  return generate(ffmpeg, [
    "-f", "lavfi", "-i", "mandelbrot=size=320x240:rate=25,trim=duration=0.6,setpts=PTS-STARTPTS",
    "-vf", text("BEACON", 0, 1, "card", 36), ...X264, "-f", "mp4",
  ], out);
}

/** 5 s of a moving textured picture with no text on it. */
export function noTextVideo(ffmpeg: string, out: string): Promise<string> {
  return generate(ffmpeg, [
    "-f", "lavfi", "-i", "mandelbrot=size=480x270:rate=25,trim=duration=5,setpts=PTS-STARTPTS,noise=alls=12:allf=t",
    ...X264, "-f", "mp4",
  ], out);
}

/** 3 s of sound only. */
export function audioOnly(ffmpeg: string, out: string): Promise<string> {
  return generate(ffmpeg, ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3", "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"], out);
}

/**
 * 6 s MKV: "QUAY" burnt in as a subtitle 1.0–4.0 s, and a SubRip stream (written as real
 * files are: BOM, CRLF, an entity, a 0-based index) whose cue "The ferry leaves at noon &amp; returns"
 * runs 1.0–3.5 s, tagged English.
 */
export async function subtitledVideo(ffmpeg: string, out: string): Promise<string> {
  const srt = `${out}.srt`;
  await writeFile(srt, "\uFEFF0\r\n00:00:01,000 --> 00:00:03,500\r\nThe ferry leaves at <i>noon</i> &amp; returns\r\n\r\n");
  return generate(ffmpeg, [
    "-f", "lavfi", "-i", "mandelbrot=size=480x270:rate=25,trim=duration=6,setpts=PTS-STARTPTS", "-i", srt,
    "-map", "0:v", "-map", "1", "-vf", text("QUAY", 1, 4, "subtitle"), ...X264, "-c:s", "srt", "-metadata:s:s:0", "language=eng", "-f", "matroska",
  ], out);
}

/** MPEG-TS, whose timestamps start at 1.48 s (both builds), not 0: "PIER" as a card 1.0–3.0 s of 4 s (from the first frame). */
export function transportStream(ffmpeg: string, out: string): Promise<string> {
  return generate(ffmpeg, [
    "-f", "lavfi", "-i", "mandelbrot=size=480x270:rate=25,trim=duration=4,setpts=PTS-STARTPTS",
    "-vf", text("PIER", 1, 3, "card"), ...X264, "-f", "mpegts",
  ], out);
}
