// One structured logger (pino, JSON lines on stderr so stdout stays free for CLI output).
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination(2));
}
