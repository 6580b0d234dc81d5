import { RackcastError, type ErrorInit } from '../common/errors.ts';
import type { ExecResult } from './exec.ts';
import type { StepError } from '../contract/index.ts';

// Codes: AGENT_DISK_* come from validation, before any disk is touched (a plan that
// breaks the contract is the contract's PlanError); AGENT_<STEP>_FAILED carry the command, its exit code and its output tail;
// AGENT_SERVER_* are answers the agent could not use. Documented in docs/agent.md.

export class AgentError extends RackcastError {
  readonly step: string | undefined;

  constructor(code: `AGENT_${string}`, message: string, init: ErrorInit & { step?: string } = {}) {
    super(code, message, { ...init, details: { ...(init.step ? { step: init.step } : {}), ...init.details } });
    this.name = 'AgentError';
    this.step = init.step;
  }
}

/** tar could not unpack the image stream. */
export const EXTRACT_REMEDY = 'the image stream is not a valid tar.zst, or the target filesystem is full';

/** A tool exited non-zero (or was killed); the facts an operator needs to see why. */
export class CommandFailedError extends AgentError {
  readonly result: ExecResult;

  constructor(code: `AGENT_${string}`, step: string, result: ExecResult, remedy: string) {
    const how = result.exitCode === null ? `was killed by ${result.signal ?? 'a signal'}` : `exited with ${result.exitCode}`;
    const last = lastLine(result.outputTail);
    super(code, `${result.argv.join(' ')} ${how}${last ? `: ${last}` : ''}`, {
      step,
      details: { command: result.argv, exitCode: result.exitCode, signal: result.signal, outputTail: result.outputTail },
      remedy,
    });
    this.name = 'CommandFailedError';
    this.result = result;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}

/** Throws a CommandFailedError unless the command exited 0. */
export function checkResult(result: ExecResult, code: `AGENT_${string}`, step: string, remedy: string): ExecResult {
  if (result.exitCode !== 0) throw new CommandFailedError(code, step, result, remedy);
  return result;
}

/** The `error` field of a failed StepReport. */
export function toStepError(err: unknown): StepError {
  if (err instanceof CommandFailedError) {
    return {
      code: err.code,
      message: err.message,
      command: err.result.argv,
      ...(err.result.exitCode === null ? {} : { exitCode: err.result.exitCode }),
      outputTail: err.result.outputTail,
      ...(err.remedy ? { remedy: err.remedy } : {}),
    };
  }
  if (err instanceof RackcastError) return { code: err.code, message: err.message, ...(err.remedy ? { remedy: err.remedy } : {}) };
  return { code: 'AGENT_INTERNAL', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}
