// How many bytes a media container says it has, followed as the bytes stream past, so that
// an upload cut short (a tab closed mid-upload, a copy that stopped) is refused before it is
// kept: ffmpeg reads such a file up to the cut and ends as if nothing were missing. Only
// structures that state their byte length are judged — ISO BMFF (mp4, mov, 3gp, m4a) by its
// top-level box sizes, Matroska/WebM by its Segment's size. Everything else, and a Matroska
// written live (Segment of unknown size), gets no verdict here: the job's probe compares the
// container's duration with where its data ends instead (processors/media/source.ts).

export interface LengthWatch {
  push(chunk: Buffer): void;
  /** The length the container declares when fewer bytes arrived; null when complete or unknown. */
  missing(): number | null;
}

const BMFF = new Set(["video/mp4", "video/quicktime", "video/x-m4v", "video/3gpp", "video/3gpp2", "audio/mp4", "audio/x-m4a"]);
const MATROSKA = new Set(["video/webm", "audio/webm", "video/matroska", "video/x-matroska"]);

/** A watch for a detected content type, or null when its length cannot be known from its bytes. */
export function watchDeclaredLength(contentType: string): LengthWatch | null {
  if (BMFF.has(contentType)) return new TopLevelBoxes();
  if (MATROSKA.has(contentType)) return new MatroskaSegment();
  return null;
}

/** Walks the top-level boxes: each header gives the offset of the next, so the last one says where the file ends. */
class TopLevelBoxes implements LengthWatch {
  private seen = 0;
  /** Where the next top-level box starts. */
  private next = 0;
  /** Its header bytes read so far (8, or 16 with a 64-bit size). */
  private header = Buffer.alloc(0);
  /** A size that cannot be followed (0 = "to the end of the file", or below a header's size). */
  private lost = false;

  push(chunk: Buffer): void {
    const start = this.seen;
    this.seen += chunk.length;
    while (!this.lost && this.next + this.header.length < this.seen) {
      const at = this.next + this.header.length - start;
      this.header = Buffer.concat([this.header, chunk.subarray(at, at + 16 - this.header.length)]);
      if (this.header.length < 8) return;
      const size32 = this.header.readUInt32BE(0);
      if (size32 === 1 && this.header.length < 16) return;
      const size = size32 === 1 ? Number(this.header.readBigUInt64BE(8)) : size32;
      if (size < (size32 === 1 ? 16 : 8)) {
        this.lost = true;
        return;
      }
      this.next += size;
      this.header = Buffer.alloc(0);
    }
  }

  missing(): number | null {
    return !this.lost && this.next > this.seen ? this.next : null;
  }
}

const EBML_HEADER_ID = 0x1a45dfa3;
const SEGMENT_ID = 0x18538067;
/** The EBML header and the Segment's header fit in this much (the header is ~40 bytes). */
const MATROSKA_HEAD_BYTES = 1024;

/** The EBML header, then the Segment: its data start plus its size is the file's length. */
class MatroskaSegment implements LengthWatch {
  private seen = 0;
  private head = Buffer.alloc(0);
  /** undefined: not decided yet; null: no verdict. */
  private declared: number | null | undefined = undefined;

  push(chunk: Buffer): void {
    this.seen += chunk.length;
    if (this.declared !== undefined) return;
    this.head = Buffer.concat([this.head, chunk]).subarray(0, MATROSKA_HEAD_BYTES);
    this.declared = segmentEnd(this.head, this.head.length < MATROSKA_HEAD_BYTES);
  }

  missing(): number | null {
    return this.declared != null && this.declared > this.seen ? this.declared : null;
  }
}

/** Where the Segment ends; undefined when `head` is too short to tell yet (and more may come). */
function segmentEnd(head: Buffer, moreMayCome: boolean): number | null | undefined {
  const wait = moreMayCome ? undefined : null;
  const id = vint(head, 0, true);
  if (!id) return wait;
  if (id.value !== EBML_HEADER_ID) return null;
  const headerSize = vint(head, id.length, false);
  if (!headerSize) return wait;
  if (headerSize.unknown) return null;
  const segmentAt = id.length + headerSize.length + headerSize.value;
  const segment = vint(head, segmentAt, true);
  if (!segment) return wait;
  if (segment.value !== SEGMENT_ID) return null;
  const size = vint(head, segmentAt + segment.length, false);
  if (!size) return wait;
  return size.unknown ? null : segmentAt + segment.length + size.length + size.value;
}

/**
 * An EBML variable-length integer at `at`: its length is told by the first byte's leading
 * zeros; IDs keep that marker bit, sizes drop it, and a size of all ones means "unknown".
 */
function vint(buf: Buffer, at: number, isId: boolean): { value: number; length: number; unknown: boolean } | null {
  const first = buf[at];
  if (first === undefined || first === 0) return null;
  const length = Math.clz32(first) - 23;
  if (at + length > buf.length) return null;
  const mask = 0xff >> length;
  let value = isId ? first : first & mask;
  let allOnes = (first & mask) === mask;
  for (let i = 1; i < length; i++) {
    value = value * 256 + buf[at + i]!;
    allOnes &&= buf[at + i] === 0xff;
  }
  return { value, length, unknown: !isId && allOnes };
}
