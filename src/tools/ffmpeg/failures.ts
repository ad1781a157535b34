// What a failed ffmpeg or ffprobe run says. Its stderr is the only account of why it
// failed, so the last lines (stats lines left out) travel with the error, and a few known
// lines mark the input as undecodable, which is the client's problem (VIDEO_FORMAT_UNSUPPORTED)
// rather than a failed transcode.
import { JobError, type ErrorCode } from "../../errors.ts";

const TAIL_LINES = 40;
const MESSAGE_TAIL_LINES = 10;

export class FfmpegError extends JobError {
  override name = "FfmpegError";
  readonly stderrTail: string[];
  constructor(code: ErrorCode, message: string, stderrTail: string[]) {
    super(code, message, { retryable: false, details: { stderrTail } });
    this.stderrTail = stderrTail;
  }
}

const UNDECODABLE = [
  /Invalid data found when processing input/i,
  /moov atom not found/i,
  /could not find codec parameters/i,
  /does not contain any stream/i,
  /EBML header parsing failed/i,
];

export function isUndecodable(line: string, inputPaths: string[]): boolean {
  if (UNDECODABLE.some((re) => re.test(line))) return true;
  return inputPaths.some((p) => line.startsWith(`${p}: Invalid argument`));
}

/** The summary, then the last non-empty stderr lines: the message a client reads. */
export function withTail(summary: string, tail: string[]): string {
  const lines = tail.filter((l) => l.trim() !== "").slice(-MESSAGE_TAIL_LINES);
  return lines.length ? `${summary}\n${lines.join("\n")}` : summary;
}

// Stats lines arrive every half second; kept out of the tail so that errors stay visible.
const STATS_LINE = /^\s*(?:frame|size)=.*time=/;

/** The last TAIL_LINES stderr lines of a run. */
export class LineRing {
  readonly lines: string[] = [];
  snapshot(): string[] {
    return [...this.lines];
  }
  push(line: string): void {
    if (STATS_LINE.test(line)) return;
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
  }
}
