import type { IncomingMessage } from 'node:http';
import { LOG_LEVELS, STEP_STATUSES, type InstallComplete, type Inventory, type LogLine, type StepReport } from '../../contract/index.ts';
import type { NodeSelection } from '../api-types.ts';
import { DecodeError } from '../errors.ts';

// Request bodies of the API, read and checked here, at the edge: what passes is typed and
// the handlers trust it. A bad body is a DecodeError (400, counted by code).

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_LOG_LINES = 1000;
/** Text fields the server keeps (log lines, command output) are cut to this. */
const MAX_TEXT = 4096;

/** 'count': a whole number >= 0; 'amount': a finite number >= 0 (bytes, rates, durations). */
type Kind = 'string' | 'number' | 'count' | 'amount' | 'boolean' | 'array' | 'object';

/** Longest error code, step name or short text kept from an agent. */
const MAX_NAME = 64;

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  // An oversized body is read to its end and discarded, so the client gets the 400
  // instead of a reset (requestTimeout bounds a client that never stops).
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  if (size > MAX_BODY_BYTES) throw new DecodeError('HTTP', 'BODY', `request body over ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new DecodeError('HTTP', 'BODY', 'request body is not JSON');
  }
}

const DESCRIBED: Record<Kind, string> = {
  string: 'a string',
  number: 'a number',
  count: 'a whole number of 0 or more',
  amount: 'a number of 0 or more',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
};

function fits(v: unknown, type: Kind): boolean {
  switch (type) {
    case 'array':
      return Array.isArray(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'count':
      return Number.isSafeInteger(v) && (v as number) >= 0;
    case 'amount':
      return typeof v === 'number' && Number.isFinite(v) && v >= 0;
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    default:
      return typeof v === type;
  }
}

function field(body: unknown, key: string, type: Kind, optional = false): unknown {
  const v = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
  if (v === undefined && optional) return undefined;
  if (!fits(v, type)) throw new DecodeError('HTTP', 'BODY', `"${key}" must be ${DESCRIBED[type]}`, { key });
  return v;
}

function name(body: unknown, key: string): string {
  const v = field(body, key, 'string') as string;
  if (!/^[\w.-]+$/.test(v) || v.length > MAX_NAME) throw new DecodeError('HTTP', 'BODY', `"${key}" must be a name of letters, digits, . - _ (at most ${MAX_NAME})`, { key });
  return v;
}

function oneOf<T extends string>(body: unknown, key: string, values: readonly T[]): T {
  const v = field(body, key, 'string') as string;
  if (!(values as readonly string[]).includes(v)) throw new DecodeError('HTTP', 'BODY', `"${key}" must be one of ${values.join(', ')}`, { key, value: v });
  return v as T;
}

function optionalFields(o: unknown, spec: Record<string, Kind>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, t] of Object.entries(spec)) {
    const v = field(o, k, t, true);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

export function parseNodeSelection(body: unknown): NodeSelection {
  return { nodes: field(body, 'nodes', 'string') as string };
}

export function parseStepReport(body: unknown): StepReport {
  const r: StepReport = { step: name(body, 'step'), status: oneOf(body, 'status', STEP_STATUSES), ...optionalFields(body, { durationMs: 'amount', bytes: 'count', rateBytesPerSec: 'amount' }) };
  // The agent's step facts (staging, sha256, bootloader targets): kept as sent, the body size is bounded.
  const detail = field(body, 'detail', 'object', true) as Record<string, unknown> | undefined;
  if (detail !== undefined) r.detail = detail;
  const e = field(body, 'error', 'object', true);
  if (e !== undefined) {
    r.error = { code: name(e, 'code'), message: (field(e, 'message', 'string') as string).slice(0, MAX_TEXT), ...optionalFields(e, { exitCode: 'number', remedy: 'string' }) };
    const command = field(e, 'command', 'array', true) as unknown[] | undefined;
    if (command) r.error.command = command.slice(0, 64).map((a) => String(a).slice(0, MAX_TEXT));
    const tail = field(e, 'outputTail', 'string', true) as string | undefined;
    if (tail !== undefined) r.error.outputTail = tail.slice(-MAX_TEXT);
  }
  return r;
}

export function parseLogLines(body: unknown): LogLine[] {
  const lines = field(body, 'lines', 'array') as unknown[];
  if (lines.length > MAX_LOG_LINES) throw new DecodeError('HTTP', 'BODY', `at most ${MAX_LOG_LINES} log lines per call`);
  return lines.map((l) => ({ time: field(l, 'time', 'string') as string, level: oneOf(l, 'level', LOG_LEVELS), msg: (field(l, 'msg', 'string') as string).slice(0, MAX_TEXT) }));
}

export function parseInventory(body: unknown): Inventory {
  const disks = (field(body, 'disks', 'array') as unknown[]).map((d) => ({
    name: field(d, 'name', 'string') as string,
    sizeBytes: field(d, 'sizeBytes', 'count') as number,
    ...optionalFields(d, { model: 'string', rotational: 'boolean' }),
  }));
  const nics = (field(body, 'nics', 'array') as unknown[]).map((n) => ({
    name: field(n, 'name', 'string') as string,
    mac: field(n, 'mac', 'string') as string,
    ...optionalFields(n, { speedMbps: 'amount' }),
  }));
  return { cpus: field(body, 'cpus', 'count') as number, memoryBytes: field(body, 'memoryBytes', 'count') as number, disks, nics, ...optionalFields(body, { arch: 'string', agentVersion: 'string' }) };
}

export function parseInstallComplete(body: unknown): InstallComplete {
  const durationMs = field(body, 'durationMs', 'amount') as number;
  const image = field(body, 'image', 'object', true);
  if (image === undefined) return { durationMs };
  const sha256 = field(image, 'sha256', 'string') as string;
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new DecodeError('HTTP', 'BODY', '"sha256" must be 64 lowercase hex digits', { key: 'image.sha256' });
  return { durationMs, image: { bytes: field(image, 'bytes', 'count') as number, sha256 } };
}
