// A body stream that counts its bytes and remembers its own errors: both backends need to tell
// "the caller's stream failed" (rethrown as is) from "the backend failed" (STORAGE_FAILED).
import type { Readable } from "node:stream";

/** Input errors are the caller's and travel unchanged; everything else is the backend's. */
export type CountedBody = { readonly stream: AsyncIterable<Buffer>; size(): number; inputError(): { error: unknown } | null };

/**
 * Wraps `body` so the bytes are counted and an error thrown by `body` itself is recorded
 * (a failure of the destination never passes through here). An abort destroys `body`
 * with `signal.reason`, which then surfaces as an input error.
 */
export function countedBody(body: Readable, signal: AbortSignal | undefined): CountedBody & { detach(): void } {
  let size = 0;
  let failure: { error: unknown } | null = null;
  const onAbort = () => body.destroy(toError(signal!.reason));
  signal?.addEventListener("abort", onAbort, { once: true });
  async function* stream(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of body) {
        const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
        size += buf.length;
        yield buf;
      }
    } catch (err) {
      failure = { error: err };
      throw err;
    }
  }
  return {
    stream: stream(),
    size: () => size,
    inputError: () => failure,
    detach: () => signal?.removeEventListener("abort", onAbort),
  };
}

// destroy() wants an Error; a non-Error abort reason is rethrown from the signal anyway.
function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
