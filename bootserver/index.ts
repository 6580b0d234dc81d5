// The boot server's public surface: other folders import from here only.
export type { InstallPlan, InstallStatus, Inventory, LogLine, NextAction, NodeDetail, NodePhase, NodeSummary, Partition, StepReport } from './api-types.ts';
export { nodeCommand, nodesCommand, serveCommand, statusCommand } from './commands.ts';
export { loadConfig, parseConfig, type BootConfig } from './config.ts';
export { BootServer, type BootServerOptions } from './server.ts';
