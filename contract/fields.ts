import { PlanError } from './errors.ts';

// Readers for one JSON field each: the value with its type, or a PlanError naming the
// field, the value and what is allowed. The plan and layout validators are built of them.

export type Obj = Record<string, unknown>;

export function obj(field: string, v: unknown): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PlanError(field, v, 'an object');
  return v as Obj;
}

export function str(field: string, v: unknown, re?: RegExp, expected = 'a string'): string {
  if (typeof v !== 'string' || v === '' || (re && !re.test(v))) throw new PlanError(field, v, expected);
  return v;
}

export function optStr(field: string, v: unknown, re?: RegExp, expected?: string): string | undefined {
  return v === undefined ? undefined : str(field, v, re, expected);
}

export function int(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new PlanError(field, v, `an integer from ${min} to ${max}`);
  return v;
}

export function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new PlanError(field, v, 'true or false');
  return v;
}

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new PlanError(field, v, `one of ${allowed.join(', ')}`);
  return v as T;
}

export function arr(field: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new PlanError(field, v, 'an array');
  return v;
}
