import { prepareSteps, stepContext, type InstallFacts, type InstallState } from '../../agent/index.ts';
import { type InstallPlan, type StepName } from '../../contract/index.ts';

// Runs named steps one by one the way the runner does (prepare, then run with a fresh
// context), so a test can look at the disk between steps. Returns each step's time.

export type StepDeps = Parameters<typeof stepContext>[4];

export async function runSteps(names: StepName[], plan: InstallPlan, facts: InstallFacts, state: InstallState, deps: StepDeps): Promise<Record<string, number>> {
  const times: Record<string, number> = {};
  for (const name of names) {
    const { step, args } = prepareSteps({ ...plan, steps: [name] }, facts)[0]!;
    const t0 = performance.now();
    await step.run(stepContext(step, plan, facts, state, deps), args);
    times[name] = Math.round(performance.now() - t0);
  }
  return times;
}
