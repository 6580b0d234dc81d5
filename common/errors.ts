// The one error base of rackcast. Every area (cast, bootserver, agent) derives its own
// errors from it with a stable, prefixed `code` that callers match on, the facts in
// `details`, and a one-line `remedy` an operator can act on.

export interface ErrorInit {
  details?: Record<string, unknown>;
  remedy?: string;
  cause?: unknown;
}

export class RackcastError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly remedy: string | undefined;

  constructor(code: string, message: string, init: ErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'RackcastError';
    this.code = code;
    this.details = init.details ?? {};
    this.remedy = init.remedy;
  }

  /** "message (remedy)" for a human on a terminal. */
  describe(): string {
    return this.remedy ? `${this.message}\n  what to do: ${this.remedy}` : this.message;
  }
}

/** A bad command line or config value. */
export class UsageError extends RackcastError {
  constructor(message: string, init: ErrorInit = {}) {
    super('USAGE', message, { remedy: 'see --help', ...init });
    this.name = 'UsageError';
  }

  /** Names the key, the bad value and what is allowed. */
  static badValue(key: string, value: unknown, allowed: string): UsageError {
    return new UsageError(`${key}: ${JSON.stringify(value)} is not valid; expected ${allowed}`, {
      details: { key, value, allowed },
      remedy: `fix ${key}`,
    });
  }
}

export function describeError(err: unknown): string {
  if (err instanceof RackcastError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
