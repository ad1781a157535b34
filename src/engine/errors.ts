// Errors with stable codes. API errors and job failures share the same vocabulary
// (INVALID_INPUT, NOT_FOUND, CONFLICT, …); the code is the contract, the message says
// what to do.

export class SpoolError extends Error {
  override name = "SpoolError";
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * Thrown by a processor to fail its job with a stable code. `retryable: false` (the
 * default) fails the job permanently; `true` lets the engine retry with backoff.
 */
export class JobError extends SpoolError {
  override name = "JobError";
  readonly retryable: boolean;
  constructor(code: string, message: string, opts: { retryable?: boolean; details?: Record<string, unknown> } = {}) {
    super(code, message, opts.details);
    this.retryable = opts.retryable ?? false;
  }
}
