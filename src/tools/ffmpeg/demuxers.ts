// The ffmpeg demuxer to force for each content type Spool detected from the bytes
// (tools/sniff.ts). Forced, ffmpeg reads the file as the format Spool checked instead of
// probing it into another one (a playlist or concat list would open other files).

/**
 * The ffmpeg demuxer to force for a content type Spool detected from the bytes; null when
 * unknown.
 */
export function demuxerFor(contentType: string): string | null {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return DEMUXERS[type] ?? null;
}

const DEMUXERS: Record<string, string> = {
  "video/mp4": "mov",
  "video/quicktime": "mov",
  "video/x-m4v": "mov",
  "video/3gpp": "mov",
  "video/3gpp2": "mov",
  "audio/mp4": "mov",
  "audio/x-m4a": "mov",
  "audio/m4a": "mov",
  "video/webm": "matroska",
  "audio/webm": "matroska",
  "video/matroska": "matroska",
  "video/x-matroska": "matroska",
  "audio/x-matroska": "matroska",
  "video/vnd.avi": "avi",
  "video/x-msvideo": "avi",
  "video/avi": "avi",
  "video/mp2t": "mpegts",
  "video/mpeg": "mpeg",
  "video/mp1s": "mpeg",
  "video/mp2p": "mpeg",
  "video/x-flv": "flv",
  "video/ogg": "ogg",
  "audio/ogg": "ogg",
  "audio/opus": "ogg",
  "application/ogg": "ogg",
  "audio/mpeg": "mp3",
  "audio/mp3": "mp3",
  "audio/aac": "aac",
  "audio/x-aac": "aac",
  "audio/flac": "flac",
  "audio/x-flac": "flac",
  "audio/wav": "wav",
  "audio/x-wav": "wav",
  "audio/wave": "wav",
  "audio/vnd.wave": "wav",
  "audio/aiff": "aiff",
  "audio/x-aiff": "aiff",
  "image/png": "png_pipe",
  "image/jpeg": "jpeg_pipe",
  "image/webp": "webp_pipe",
  "image/tiff": "tiff_pipe",
  "image/bmp": "bmp_pipe",
  "image/gif": "gif",
};
