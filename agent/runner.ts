import type { Logger } from '../common/log.ts';
import type { AgentPaths, InstallFacts, InstallState, Step, StepContext, StepOutcome, StepProgress } from './context.ts';
import { blockDeviceBytes, chooseDisk, listDisks, mountedFrom, partitionDevice } from './disk.ts';
import { AgentError, toStepError } from './errors.ts';
import type { Exec } from './exec.ts';
import { placePartitions } from './layout.ts';
import { MountStack } from './mounts.ts';
import { STEP_NAMES, validatePlan, type InstallComplete, type InstallPlan, type StepName, type StepReport } from '../contract/index.ts';
import { releaseInstall } from './release.ts';
import { STEPS } from './steps/index.ts';

// Runs a plan: validates it, finds the facts (disk, size, layout), lets every step
// validate its part, checks the disk is not in use, and only then runs the steps in
// order, reporting each as it starts and ends. A failure is reported with its facts and
// everything the attempt mounted is released, so the server can order a retry.

/** 'running' reports with progress (bytes, rate) go out at most this often. */
const PROGRESS_REPORT_MS = 5000;
/**
 * A long step without progress (extract, grub-mkconfig) repeats its 'running' report about
 * this often, jittered by ±25 % so a rack does not report in lock-step: the server sees
 * the node alive.
 */
const HEARTBEAT_MS = 30_000;

export interface Reporter {
  reportStep(report: StepReport): void;
}

export interface RunnerDeps {
  log: Logger;
  exec: Exec;
  paths: AgentPaths;
  reporter: Reporter;
  signal: AbortSignal;
  arch: string;
  efi: boolean;
  nic: InstallFacts['nic'];
}

export interface StepTiming {
  step: StepName;
  durationMs: number;
  bytes?: number;
  rateBytesPerSec?: number;
}

export function gatherFacts(plan: InstallPlan, deps: Pick<RunnerDeps, 'arch' | 'efi' | 'nic'>): InstallFacts {
  const device = chooseDisk(plan.disk.device, plan.disk.device ? [] : listDisks());
  const sizeBytes = blockDeviceBytes(device);
  const placed = placePartitions(plan.disk.layout, sizeBytes, deps.arch, device);
  return {
    disk: { device, sizeBytes, partitions: placed.map((p) => ({ ...p, device: partitionDevice(device, p.number) })) },
    arch: deps.arch,
    efi: deps.efi,
    nic: deps.nic,
  };
}

/** Every step of the plan with its validated arguments; throws before anything is touched. */
export function prepareSteps(plan: InstallPlan, facts: InstallFacts): { step: Step; args: unknown }[] {
  const names = plan.steps ?? [...STEP_NAMES];
  // validatePlan admits only names of STEP_NAMES, and STEPS has one step for each.
  return names.map((name) => ({ step: STEPS[name], args: STEPS[name].prepare(plan, facts) }));
}

function checkDiskFree(device: string): void {
  const busy = mountedFrom(device);
  if (busy.length > 0) {
    throw new AgentError('AGENT_DISK_BUSY', `${device} is in use: ${busy.join(', ')} mounted`, {
      details: { device, mounted: busy },
      remedy: 'the plan names a disk that is in use; name the install disk in disk.device',
    });
  }
}

function progressReporter(step: StepName, reporter: Reporter): (p: StepProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < PROGRESS_REPORT_MS) return;
    last = now;
    reporter.reportStep({ step, status: 'running', ...p });
  };
}

export function createInstallState(deps: Pick<RunnerDeps, 'exec' | 'log'>): InstallState {
  return { mounts: new MountStack(deps.exec, deps.log.child('mount')), image: null, createdLinks: [] };
}

/**
 * The context one step runs with: the facts, the shared state, a scoped log, a reporter.
 * A step that is not abortable (half a partition table is worse than a whole one) gets a
 * signal that never fires.
 */
export function stepContext(step: Step, plan: InstallPlan, facts: InstallFacts, state: InstallState, deps: Omit<RunnerDeps, 'arch' | 'efi' | 'nic'>): StepContext {
  return {
    ...facts,
    plan,
    exec: deps.exec,
    signal: step.abortable ? deps.signal : new AbortController().signal,
    paths: deps.paths,
    state,
    log: deps.log.child(step.name),
    report: progressReporter(step.name, deps.reporter),
  };
}

/** Validation before any step, reported as the pseudo-step "plan" when it fails. */
function preflight(raw: unknown, deps: RunnerDeps): { plan: InstallPlan; facts: InstallFacts; steps: { step: Step; args: unknown }[] } {
  try {
    const plan = validatePlan(raw);
    const facts = gatherFacts(plan, deps);
    const steps = prepareSteps(plan, facts);
    if (steps.some((s) => s.step.destructive)) checkDiskFree(facts.disk.device);
    return { plan, facts, steps };
  } catch (err) {
    const error = toStepError(err);
    deps.log.error('the plan cannot run on this node; no disk was touched', { code: error.code, error: error.message, remedy: error.remedy });
    deps.reporter.reportStep({ step: 'plan', status: 'failed', durationMs: 0, error });
    throw err;
  }
}

/** What a whole install did: the timings of its steps and its completion report for the server. */
export interface InstallResult {
  timings: StepTiming[];
  complete: InstallComplete;
}

/** Runs the whole plan; resolves once its last step succeeded, or throws the failing step's error. */
export async function runInstall(raw: unknown, deps: RunnerDeps): Promise<InstallResult> {
  const started = performance.now();
  const { plan, facts, steps } = preflight(raw, deps);
  const state = createInstallState(deps);
  const timings: StepTiming[] = [];
  deps.log.info('install starts', { disk: facts.disk.device, sizeBytes: facts.disk.sizeBytes, steps: steps.map((s) => s.step.name) });
  try {
    for (const { step, args } of steps) {
      const ctx = stepContext(step, plan, facts, state, deps);
      deps.reporter.reportStep({ step: step.name, status: 'running' });
      const t0 = performance.now();
      const heartbeat = setInterval(
        () => deps.reporter.reportStep({ step: step.name, status: 'running', durationMs: Math.round(performance.now() - t0) }),
        HEARTBEAT_MS * (0.75 + Math.random() / 2),
      );
      let outcome: StepOutcome | void;
      try {
        outcome = await step.run(ctx, args);
      } catch (err) {
        const durationMs = Math.round(performance.now() - t0);
        const error = toStepError(err);
        deps.log.error(`step ${step.name} failed`, { code: error.code, error: error.message, remedy: error.remedy });
        if (error.outputTail) deps.log.error('last output', { outputTail: error.outputTail });
        deps.reporter.reportStep({ step: step.name, status: 'failed', durationMs, error });
        throw err;
      } finally {
        clearInterval(heartbeat);
      }
      const durationMs = Math.round(performance.now() - t0);
      const timing: StepTiming = { step: step.name, durationMs, ...(outcome?.bytes === undefined ? {} : { bytes: outcome.bytes }), ...(outcome?.rateBytesPerSec === undefined ? {} : { rateBytesPerSec: outcome.rateBytesPerSec }) };
      timings.push(timing);
      deps.log.info(`step ${step.name} succeeded`, { ...timing, ...outcome?.detail });
      deps.reporter.reportStep({ status: 'succeeded', ...timing, ...(outcome?.detail ? { detail: outcome.detail } : {}) });
    }
  } finally {
    await releaseInstall({ state, log: deps.log });
  }
  const image = state.image;
  return { timings, complete: { durationMs: Math.round(performance.now() - started), ...(image ? { image: { bytes: image.bytes, sha256: image.sha256 } } : {}) } };
}
