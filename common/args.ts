import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';

// Thin layer over util.parseArgs: its errors become UsageErrors that name the option,
// and numbers are parsed and range-checked at the edge.

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export function parseCommandLine<O extends OptionSpec>(argv: string[], options: O, positionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify.*$/s, '');
    throw new UsageError(msg.charAt(0).toLowerCase() + msg.slice(1), { cause: err });
  }
}

export function intOption(key: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw UsageError.badValue(`--${key}`, text, `an integer from ${min} to ${max}`);
  return n;
}

/** Seconds (fractions allowed) to milliseconds. */
export function secondsOption(key: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw UsageError.badValue(`--${key}`, text, 'a number of seconds >= 0');
  return Math.round(n * 1000);
}

/** Drops undefined values so that defaults apply. */
export function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
