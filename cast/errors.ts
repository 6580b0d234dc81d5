import { RackcastError, type ErrorInit } from '../common/errors.ts';

// Codes: CAST_DECODE_* for bad datagrams (dropped and counted, never fatal),
// CAST_* for transfer failures that end a sender or receiver.

export class CastError extends RackcastError {
  constructor(code: `CAST_${string}`, message: string, init: ErrorInit = {}) {
    super(code, message, init);
    this.name = 'CastError';
  }
}

/** A datagram that is not a well-formed udpcast message. */
export class DecodeError extends CastError {
  constructor(reason: 'SHORT' | 'OPCODE' | 'FIELD', message: string, details: Record<string, unknown> = {}) {
    super(`CAST_DECODE_${reason}`, message, { details });
    this.name = 'DecodeError';
  }
}
