// The download name header, shared by S3 presigned URLs and the local /files route so that a
// file downloads under the same name whichever backend holds it.

/**
 * RFC 6266 Content-Disposition with an ASCII fallback `filename` and an RFC 5987
 * `filename*` for the real (UTF-8) name.
 */
export function contentDisposition(filename: string | undefined, inline: boolean | undefined): string {
  const type = inline ? "inline" : "attachment";
  if (!filename) return type;
  // Paths and control characters never belong in a download name (and CR/LF would split headers).
  const clean = filename.replace(/[\u0000-\u001f\u007f/\\]/g, "_");
  // The fallback is for old clients: a quote would end the quoted-string, and some clients
  // percent-decode plain filenames.
  const ascii = clean.replace(/[^\x20-\x7e]/g, "_").replace(/["%]/g, "_");
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return ascii === clean
    ? `${type}; filename="${ascii}"`
    : `${type}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
