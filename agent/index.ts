// The agent's public surface: the pieces tests and tools use. The contract with the
// boot server is its own room (contract/).

export { placePartitions, sfdiskScript, type PlacedPartition } from './layout.ts';
export { runInstall, gatherFacts, prepareSteps, createInstallState, stepContext, type RunnerDeps, type StepTiming } from './runner.ts';
export { releaseInstall } from './release.ts';
export type { InstallFacts, InstallState, StepContext, AgentPaths, ReceivedImage } from './context.ts';
export { ReportClient, ServerError, type ReportClientOptions } from './report-client.ts';
export { parseAgentConfig, parseKernelParams, parseBootif, type AgentConfig } from './cmdline.ts';
export { AgentError, CommandFailedError } from './errors.ts';
export { HOST_TOOLS, BUSYBOX_TOOLS } from './tools.ts';
export { INITRD_MARKER, MODULES_ALWAYS, UDHCPC_SCRIPT } from './initrd-paths.ts';
export { STEPS } from './steps/index.ts';
