// The contract between the agent and the boot server: the calls and their types, the
// plan's validator, the layout grammar and the image's tar flags. Both sides import it
// from here; neither imports the other.
export * from './agent-api.ts';
export { PlanError } from './errors.ts';
export { parseSizeMiB, validateLayout, type FsType, type Partition, type PartitionRole } from './layout.ts';
export { tarCreateArgs, tarExtractArgv } from './tar.ts';
export { validatePlan } from './validate-plan.ts';
