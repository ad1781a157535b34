// Retry delay after a failed attempt: exponential with "equal jitter" (half fixed, half
// random), so a burst of failures does not come back as a burst, yet no retry comes
// sooner than half its nominal delay.

export const BACKOFF_BASE_MS = 2_000;
export const BACKOFF_CAP_MS = 60 * 60_000;

/** Delay before attempt `attempt + 1`, given that attempt `attempt` (1-based) just failed. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const nominal = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(nominal / 2 + random() * (nominal / 2));
}
