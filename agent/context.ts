import type { Logger } from '../common/log.ts';
import type { Exec } from './exec.ts';
import type { PlacedPartition } from './layout.ts';
import type { MountStack } from './mounts.ts';
import type { InstallPlan, StagingMode, StepName } from '../contract/index.ts';

// What a step gets: everything injected, no globals, so a step runs the same in the
// initrd and in a test against /dev/loopN with its own directories.

export interface AgentPaths {
  /** Where the installed system is mounted while the agent works on it. */
  target: string;
  /** tmpfs directory the image is received into (staging "tmpfs"). */
  staging: string;
  /** The /dev that holds the disk nodes (by-uuid links go below it). */
  dev: string;
  /** efivarfs mount point; present only when the node booted with UEFI. */
  efivars: string;
}

export interface TargetPartition extends PlacedPartition {
  /** Block device node, e.g. /dev/vda2 or /dev/loop3p2. */
  device: string;
}

export interface TargetDisk {
  device: string;
  sizeBytes: number;
  partitions: TargetPartition[];
}

/** Facts found before any step runs; steps validate their part of the plan against them. */
export interface InstallFacts {
  disk: TargetDisk;
  /** Node's process.arch of the installer: picks the GRUB EFI target and root type GUID. */
  arch: string;
  /** The node booted with UEFI (efivars are present). */
  efi: boolean;
  /** The boot NIC, as brought up by the agent. */
  nic: { name: string; mac: string } | null;
}

/** The received image stream, as the receive step left it. */
export interface ReceivedImage {
  mode: StagingMode;
  /** Why this mode (the plan's choice, or the fallback's reason). */
  reason: string;
  /** The staged file (tmpfs mode). */
  path?: string;
  bytes: number;
  sha256: string;
  /** True when receive already extracted it (direct mode). */
  extracted: boolean;
}

/** Shared between steps of one install attempt. */
export interface InstallState {
  mounts: MountStack;
  image: ReceivedImage | null;
  /** /dev/disk/by-uuid links the agent made (no udev); removed on cleanup. */
  createdLinks: string[];
}

export interface StepProgress {
  bytes?: number;
  rateBytesPerSec?: number;
  detail?: Record<string, unknown>;
}

export interface StepContext extends InstallFacts {
  plan: InstallPlan;
  log: Logger;
  exec: Exec;
  signal: AbortSignal;
  paths: AgentPaths;
  state: InstallState;
  /** A 'running' report with progress, sent to the server (rate-limited by the caller). */
  report(progress: StepProgress): void;
}

/** What a step hands back for its 'succeeded' report. */
export interface StepOutcome {
  bytes?: number;
  rateBytesPerSec?: number;
  detail?: Record<string, unknown>;
}

export interface Step<A = unknown> {
  name: StepName;
  /** Writes to the target disk: the runner runs the disk safety checks before it. */
  destructive: boolean;
  /** Can stop in the middle when the install is aborted (the signal is honoured). */
  abortable: boolean;
  /** Validates this step's part of the plan; throws PlanError / AgentError. Touches nothing. */
  prepare(plan: InstallPlan, facts: InstallFacts): A;
  run(ctx: StepContext, args: A): Promise<StepOutcome | void>;
}

/** `prepare` of a step whose whole input is the plan and the facts. */
export function noArgs(): undefined {
  return undefined;
}
