import { RackcastError, type ErrorInit } from '../common/errors.ts';

// Codes: BOOT_DECODE_* for malformed packets and requests from the network (dropped and
// counted, never fatal), BOOT_CONFIG for a bad config file, BOOT_* for failures that stop
// the server or a CLI call.

export class BootError extends RackcastError {
  constructor(code: `BOOT_${string}`, message: string, init: ErrorInit = {}) {
    super(code, message, init);
    this.name = 'BootError';
  }
}

/** A datagram or request that is not well-formed; the server drops it and counts the code. */
export class DecodeError extends BootError {
  constructor(what: 'DHCP' | 'TFTP' | 'HTTP', reason: string, message: string, details: Record<string, unknown> = {}) {
    super(`BOOT_DECODE_${what}_${reason}`, message, { details });
    this.name = 'DecodeError';
  }
}

/** A config value that is missing or not allowed: names the key, the value and what is allowed. */
export class ConfigError extends BootError {
  constructor(file: string, key: string, value: unknown, allowed: string) {
    super('BOOT_CONFIG', `${file}: ${key}: ${JSON.stringify(value)} is not valid; expected ${allowed}`, {
      details: { file, key, value, allowed },
      remedy: `fix ${key} in ${file} (see bootserver/rackcast.example.yaml)`,
    });
    this.name = 'ConfigError';
  }
}

/** An API call the server refused; `status` is the HTTP status it answers with. */
export class ApiError extends BootError {
  readonly status: number;
  constructor(status: number, code: `BOOT_API_${string}`, message: string, init: ErrorInit = {}) {
    super(code, message, init);
    this.name = 'ApiError';
    this.status = status;
  }
}
