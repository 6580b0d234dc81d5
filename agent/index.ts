// The agent's public surface: the contract types the boot server imports, and the
// pieces tests and tools use.

export * from './plan.ts';
export { validatePlan } from './validate-plan.ts';
export { placePartitions, sfdiskScript, parseSizeMiB, type PlacedPartition } from './layout.ts';
export { runInstall, gatherFacts, prepareSteps, createInstallState, stepContext, type RunnerDeps, type StepTiming } from './runner.ts';
export { releaseInstall } from './release.ts';
export type { InstallFacts, InstallState, StepContext, AgentPaths, ReceivedImage } from './context.ts';
export { ReportClient, ServerError, type ReportClientOptions } from './report-client.ts';
export { parseAgentConfig, parseKernelParams, parseBootif, type AgentConfig } from './cmdline.ts';
export { AgentError, CommandFailedError, PlanError } from './errors.ts';
export { HOST_TOOLS, BUSYBOX_TOOLS } from './tools.ts';
export { STEPS } from './steps/index.ts';
