// HLS playlists as text, and the codec strings players need to pick a variant before they
// download any of it. Pure functions: no files, no ffmpeg.
//
// Spool writes the master playlist itself instead of letting ffmpeg do it (-master_pl_name):
// the 2018 npm ffmpeg segfaults on a multi-rendition HLS run with it, and ffmpeg's own
// BANDWIDTH is the nominal encoder rate, where RFC 8216 asks for the measured peak.

/** One EXT-X-STREAM-INF entry of a master playlist. */
export type HlsVariant = {
  /** Relative to the master playlist, e.g. "720p/index.m3u8". */
  uri: string;
  /** Peak segment bit rate, bits/s, all streams of the variant. */
  bandwidth: number;
  averageBandwidth?: number | null;
  resolution?: { width: number; height: number } | null;
  /** RFC 6381 codec list, e.g. "avc1.64001f,mp4a.40.2". */
  codecs?: string | null;
  frameRate?: number | null;
  /** The SUBTITLES group the variant names, as parsed (writeMasterPlaylist gives every variant its subtitles group). */
  subtitles?: string;
};

export type HlsSegment = { uri: string; durationSec: number };
export type HlsMediaPlaylist = {
  version: number | null;
  targetDurationSec: number;
  playlistType: string | null;
  endList: boolean;
  independentSegments: boolean;
  segments: HlsSegment[];
};

// Relative paths of letters, digits and ._-/ only: nothing a player could resolve to another
// host or outside the package, and nothing that needs quoting inside a playlist line.
const RELATIVE_URI = /^(?!\/)(?!.*\/\/)[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

function checkUri(uri: string): void {
  if (!RELATIVE_URI.test(uri) || uri.split("/").some((s) => s === "." || s === "..")) {
    throw new Error(`playlist URI ${JSON.stringify(uri)} must be a relative path of letters, digits and ._- without . or .. segments`);
  }
}

/** One EXT-X-MEDIA TYPE=SUBTITLES rendition of a master playlist (a WebVTT media playlist). */
export type HlsSubtitleRendition = {
  /** Relative to the master playlist, e.g. "subs/0/index.m3u8". */
  uri: string;
  /** What a player's menu shows; any text (made quoted-string safe here). */
  name: string;
  /** BCP-47; left out of the tag when it is not one. */
  language?: string | null;
  /** Apple's media characteristics, e.g. public.accessibility.transcribes-spoken-dialog for SDH captions. */
  characteristics?: readonly string[];
};

/** The GROUP-ID every variant names in SUBTITLES=: one group, since every variant shows the same tracks. */
export const SUBTITLES_GROUP = "subs";

/**
 * Text as an RFC 8216 quoted-string: one that cannot hold a double quote, CR or LF. A quote
 * becomes an apostrophe and control characters spaces, so a label can never end the
 * attribute early or start a new playlist line; empty text becomes `fallback`.
 */
export function quotedStringSafe(text: string, fallback: string, maxLength = 200): string {
  const clean = text.replace(/"/g, "'").replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, " ").replace(/\s+/g, " ").trim().slice(0, maxLength).trim();
  return clean || fallback;
}

const BCP47 = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;
const CHARACTERISTIC = /^[A-Za-z0-9.-]+$/;

function mediaLines(subtitles: readonly HlsSubtitleRendition[]): string[] {
  const names = new Set<string>();
  return subtitles.map((s, i) => {
    checkUri(s.uri);
    // NAME must be unique within its group (RFC 8216 4.3.4.1.1).
    const base = quotedStringSafe(s.name, `Subtitles ${i + 1}`);
    let name = base;
    for (let n = 2; names.has(name); n++) name = `${base} (${n})`;
    names.add(name);
    const attrs = [`TYPE=SUBTITLES`, `GROUP-ID="${SUBTITLES_GROUP}"`, `NAME="${name}"`];
    if (s.language && BCP47.test(s.language)) attrs.push(`LANGUAGE="${s.language}"`);
    attrs.push("DEFAULT=NO", "AUTOSELECT=YES", "FORCED=NO");
    const chars = (s.characteristics ?? []).filter((c) => CHARACTERISTIC.test(c));
    if (chars.length) attrs.push(`CHARACTERISTICS="${chars.join(",")}"`);
    attrs.push(`URI="${s.uri}"`);
    return `#EXT-X-MEDIA:${attrs.join(",")}`;
  });
}

/**
 * The master playlist of a package; `independentSegments` when every segment starts with a
 * keyframe. With `subtitles`, each is an EXT-X-MEDIA of one SUBTITLES group that every
 * variant names; without, the playlist is as it always was.
 */
export function writeMasterPlaylist(variants: readonly HlsVariant[], opts: { independentSegments?: boolean; subtitles?: readonly HlsSubtitleRendition[] } = {}): string {
  if (variants.length === 0) throw new Error("a master playlist needs at least one variant");
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3"];
  if (opts.independentSegments) lines.push("#EXT-X-INDEPENDENT-SEGMENTS");
  const subtitles = opts.subtitles ?? [];
  lines.push(...mediaLines(subtitles));
  for (const v of variants) {
    checkUri(v.uri);
    if (!(Number.isInteger(v.bandwidth) && v.bandwidth > 0)) throw new Error(`BANDWIDTH of ${v.uri} must be a positive integer`);
    const attrs = [`BANDWIDTH=${v.bandwidth}`];
    if (v.averageBandwidth) attrs.push(`AVERAGE-BANDWIDTH=${Math.round(v.averageBandwidth)}`);
    if (v.resolution) attrs.push(`RESOLUTION=${v.resolution.width}x${v.resolution.height}`);
    if (v.frameRate) attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    if (v.codecs) {
      if (!/^[A-Za-z0-9.,]+$/.test(v.codecs)) throw new Error(`CODECS ${JSON.stringify(v.codecs)} is not an RFC 6381 list`);
      attrs.push(`CODECS="${v.codecs}"`);
    }
    if (subtitles.length) attrs.push(`SUBTITLES="${SUBTITLES_GROUP}"`);
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(",")}`, v.uri);
  }
  return `${lines.join("\n")}\n`;
}

/** The attributes of a tag (`A=1,B="x,y"`), keys as written. */
export function parseAttributes(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)(?:,|$)/g;
  for (let m = re.exec(list); m; m = re.exec(list)) {
    const raw = m[2]!;
    out[m[1]!] = raw.startsWith('"') ? raw.slice(1, -1) : raw;
    if (m[0] === "") re.lastIndex++;
  }
  return out;
}

function playlistLines(text: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (lines[0] !== "#EXTM3U") throw new Error("not an HLS playlist: the first line is not #EXTM3U");
  return lines;
}

/** The variants of a master playlist, in order. */
export function parseMasterPlaylist(text: string): HlsVariant[] {
  const lines = playlistLines(text);
  const variants: HlsVariant[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith("#EXT-X-STREAM-INF:")) continue;
    const a = parseAttributes(line.slice("#EXT-X-STREAM-INF:".length));
    const uri = lines[i + 1];
    if (!uri || uri.startsWith("#")) throw new Error(`EXT-X-STREAM-INF on line ${i + 1} is not followed by a URI`);
    const bandwidth = Number(a.BANDWIDTH);
    if (!(bandwidth > 0)) throw new Error(`EXT-X-STREAM-INF on line ${i + 1} has no BANDWIDTH`);
    const res = a.RESOLUTION ? /^(\d+)x(\d+)$/.exec(a.RESOLUTION) : null;
    variants.push({
      uri,
      bandwidth,
      averageBandwidth: a["AVERAGE-BANDWIDTH"] ? Number(a["AVERAGE-BANDWIDTH"]) : null,
      resolution: res ? { width: Number(res[1]), height: Number(res[2]) } : null,
      codecs: a.CODECS ?? null,
      frameRate: a["FRAME-RATE"] ? Number(a["FRAME-RATE"]) : null,
      ...(a.SUBTITLES !== undefined ? { subtitles: a.SUBTITLES } : {}),
    });
    i++;
  }
  if (variants.length === 0) throw new Error("the master playlist lists no variant");
  return variants;
}

/** The EXT-X-MEDIA tags of a master playlist, each as its attributes (quoted values unquoted). */
export function parseMediaRenditions(text: string): Array<Record<string, string>> {
  return playlistLines(text).filter((l) => l.startsWith("#EXT-X-MEDIA:")).map((l) => parseAttributes(l.slice("#EXT-X-MEDIA:".length)));
}

/** A VOD media playlist of the given segments (subtitle segments: Spool writes those itself). */
export function writeMediaPlaylist(segments: readonly HlsSegment[]): string {
  if (segments.length === 0) throw new Error("a media playlist needs at least one segment");
  // Every EXTINF rounded to the nearest integer must be at most the target (RFC 8216 4.3.3.1).
  const target = Math.max(1, ...segments.map((s) => Math.round(s.durationSec)));
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", `#EXT-X-TARGETDURATION:${target}`, "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"];
  for (const s of segments) {
    if (!s.uri || s.uri.includes("/") || !RELATIVE_URI.test(s.uri)) throw new Error(`segment URI ${JSON.stringify(s.uri)} must be a file name beside the playlist`);
    if (!(Number.isFinite(s.durationSec) && s.durationSec >= 0)) throw new Error(`segment ${s.uri} has no valid duration`);
    lines.push(`#EXTINF:${s.durationSec.toFixed(6)},`, s.uri);
  }
  lines.push("#EXT-X-ENDLIST");
  return `${lines.join("\n")}\n`;
}

/** A media (variant) playlist: its segments with their durations. */
export function parseMediaPlaylist(text: string): HlsMediaPlaylist {
  const lines = playlistLines(text);
  const out: HlsMediaPlaylist = { version: null, targetDurationSec: 0, playlistType: null, endList: false, independentSegments: false, segments: [] };
  let pending: number | null = null;
  for (const line of lines.slice(1)) {
    if (line.startsWith("#EXTINF:")) {
      pending = Number(line.slice("#EXTINF:".length).split(",")[0]);
      if (!Number.isFinite(pending) || pending < 0) throw new Error(`bad EXTINF: ${line}`);
    } else if (line.startsWith("#EXT-X-TARGETDURATION:")) out.targetDurationSec = Number(line.split(":")[1]);
    else if (line.startsWith("#EXT-X-VERSION:")) out.version = Number(line.split(":")[1]);
    else if (line.startsWith("#EXT-X-PLAYLIST-TYPE:")) out.playlistType = line.split(":")[1] ?? null;
    else if (line === "#EXT-X-ENDLIST") out.endList = true;
    else if (line === "#EXT-X-INDEPENDENT-SEGMENTS") out.independentSegments = true;
    else if (!line.startsWith("#")) {
      if (pending === null) throw new Error(`segment ${line} has no EXTINF`);
      out.segments.push({ uri: line, durationSec: pending });
      pending = null;
    }
  }
  return out;
}

// H.264 levels (ITU-T H.264 Table A-1): max macroblocks per second, max frame size in
// macroblocks, max video bit rate in kbit/s for Baseline/Main (High allows 1.25×).
const H264_LEVELS: ReadonlyArray<{ level: number; mbps: number; fs: number; kbps: number }> = [
  { level: 30, mbps: 40_500, fs: 1_620, kbps: 10_000 },
  { level: 31, mbps: 108_000, fs: 3_600, kbps: 14_000 },
  { level: 32, mbps: 216_000, fs: 5_120, kbps: 20_000 },
  { level: 40, mbps: 245_760, fs: 8_192, kbps: 20_000 },
  { level: 41, mbps: 245_760, fs: 8_192, kbps: 50_000 },
  { level: 42, mbps: 522_240, fs: 8_704, kbps: 50_000 },
  { level: 50, mbps: 589_824, fs: 22_080, kbps: 135_000 },
  { level: 51, mbps: 983_040, fs: 36_864, kbps: 240_000 },
  { level: 52, mbps: 2_073_600, fs: 36_864, kbps: 240_000 },
];

/**
 * The lowest H.264 High-profile level (×10: 31 for 3.1) that holds a stream of this size,
 * frame rate and peak rate. 3.0 is the floor: every device that plays HLS decodes it, and a
 * smaller stream may always claim a higher level. Null when even 5.2 is too small.
 */
export function h264HighLevel(width: number, height: number, fps: number, maxKbps: number): number | null {
  const mbW = Math.ceil(width / 16);
  const mbH = Math.ceil(height / 16);
  const fs = mbW * mbH;
  const mbps = fs * fps;
  // Annex A also bounds each side: at most sqrt(8 × MaxFS) macroblocks.
  const found = H264_LEVELS.find((l) => fs <= l.fs && mbps <= l.mbps && maxKbps <= l.kbps * 1.25 && Math.max(mbW, mbH) <= Math.sqrt(8 * l.fs));
  return found?.level ?? null;
}

/** "avc1.64001f" for High profile at level 3.1 (profile_idc 100, no constraint flags). */
export function avcHighCodec(level: number): string {
  return `avc1.6400${level.toString(16).padStart(2, "0")}`;
}

/** The level as x264's -level takes it: 31 → "3.1". */
export function levelName(level: number): string {
  return `${Math.floor(level / 10)}.${level % 10}`;
}
