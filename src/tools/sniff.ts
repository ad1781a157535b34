// What a file is, from its first bytes: magic numbers through file-type, plus the two
// text caption formats file-type does not know. Names and declared content types are
// never trusted: a text file called video.mp4 is a text file.
import { fileTypeFromBuffer } from "file-type";

export type AssetKind = "VIDEO" | "AUDIO" | "IMAGE" | "PDF" | "CAPTIONS" | "TEXT";
export type Sniffed = { kind: AssetKind; contentType: string; ext: string };

/** Bytes to read before deciding; file-type needs at most 4,100 for the formats we allow. */
export const SNIFF_BYTES = 4100;
/** "II*\0" (little-endian) and "MM\0*" (big-endian) TIFF headers. */
const TIFF_MAGIC = [[0x49, 0x49, 0x2a, 0x00], [0x4d, 0x4d, 0x00, 0x2a]];

// The allowlist: every type Spool accepts, by detected MIME type. Anything else is refused.
// Keys are the names file-type reports (21.x: video/vnd.avi, video/matroska, video/MP2P for
// MPEG program streams, audio/aiff); the older x- names stay for other detectors.
const KINDS: Record<string, AssetKind> = {
  "video/mp4": "VIDEO",
  "video/quicktime": "VIDEO",
  "video/webm": "VIDEO",
  "video/matroska": "VIDEO",
  "video/x-matroska": "VIDEO",
  "video/vnd.avi": "VIDEO",
  "video/x-msvideo": "VIDEO",
  "video/mp2t": "VIDEO",
  "video/mpeg": "VIDEO",
  "video/MP1S": "VIDEO",
  "video/MP2P": "VIDEO",
  "video/x-flv": "VIDEO",
  "video/3gpp": "VIDEO",
  "video/3gpp2": "VIDEO",
  "video/ogg": "VIDEO",
  "video/x-m4v": "VIDEO",
  "audio/mpeg": "AUDIO",
  "audio/aac": "AUDIO",
  "audio/mp4": "AUDIO",
  "audio/x-m4a": "AUDIO",
  "audio/ogg": "AUDIO",
  "audio/opus": "AUDIO",
  "audio/ogg; codecs=opus": "AUDIO",
  "audio/flac": "AUDIO",
  "audio/x-flac": "AUDIO",
  "audio/wav": "AUDIO",
  "audio/x-wav": "AUDIO",
  "audio/vnd.wave": "AUDIO",
  "audio/webm": "AUDIO",
  "audio/aiff": "AUDIO",
  "audio/x-aiff": "AUDIO",
  "image/png": "IMAGE",
  "image/jpeg": "IMAGE",
  "image/webp": "IMAGE",
  "image/tiff": "IMAGE",
  "image/gif": "IMAGE",
  "application/pdf": "PDF",
  "text/vtt": "CAPTIONS",
};

// The first SubRip cue as tools really write it: the index may be missing, 0 or trailed by
// spaces; hours may have one digit; milliseconds one to three digits, or none; the arrow
// may lack its spaces and be followed by position coordinates.
const SRT_TIME = String.raw`\d{1,2}:\d{2}:\d{2}(?:[,.]\d{1,3})?`;
const SRT_CUE = new RegExp(String.raw`^(?:\d+[ \t]*\r?\n)?[ \t]*${SRT_TIME}[ \t]*-->[ \t]*${SRT_TIME}(?:[ \t][^\r\n]*)?(?:\r?\n|$)`);

/** The detected type of `head` (the first SNIFF_BYTES of a file), or null when it is not on the allowlist. */
export async function sniff(head: Uint8Array): Promise<Sniffed | { kind: null; contentType: string | null }> {
  // Captions first: file-type takes UTF-16's byte-order mark (FF FE) for an MPEG audio frame sync.
  const text = decodeText(head);
  if (/^WEBVTT(?:[ \t\r\n]|$)/.test(text)) return { kind: "CAPTIONS", contentType: "text/vtt", ext: "vtt" };
  if (SRT_CUE.test(text.trimStart())) return { kind: "CAPTIONS", contentType: "application/x-subrip", ext: "srt" };
  const detected = await fileTypeFromBuffer(head);
  if (detected) {
    const kind = KINDS[detected.mime];
    return kind ? { kind, contentType: detected.mime, ext: detected.ext } : { kind: null, contentType: detected.mime };
  }
  // file-type follows a TIFF's first IFD to tell TIFF from camera raw formats; writers that
  // put the IFD after the pixels (ffmpeg, many scanners) leave it beyond the sniffed head.
  if (TIFF_MAGIC.some((m) => m.every((b, i) => head[i] === b))) return { kind: "IMAGE", contentType: "image/tiff", ext: "tif" };
  return { kind: null, contentType: null };
}

/** Text by its byte-order mark: UTF-16 (Windows Notepad's "Unicode") or UTF-8, the BOM removed. */
function decodeText(head: Uint8Array): string {
  const bytes = Buffer.from(head);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le").decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be").decode(bytes.subarray(2));
  return bytes.toString("utf8").replace(/^\uFEFF/, "");
}
