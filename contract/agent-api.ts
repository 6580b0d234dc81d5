import type { Partition } from './layout.ts';

// The agent <-> boot server calls (docs/agent-api.md) as TypeScript types: one definition
// that the agent and the server both import. Fields marked "addition" are optional
// extensions of the documented contract: a peer that does not send them gets the
// documented behaviour.

/** Every agent call, by name; the server routes exactly these paths. */
export const API_PATHS = {
  plan: '/api/v1/agent/plan',
  inventory: '/api/v1/agent/inventory',
  step: '/api/v1/agent/step',
  log: '/api/v1/agent/log',
  complete: '/api/v1/agent/complete',
  next: '/api/v1/agent/next',
} as const;

export const BOOTLOADERS = ['grub', 'extlinux', 'none'] as const;
export type Bootloader = (typeof BOOTLOADERS)[number];

export const STAGING_MODES = ['tmpfs', 'direct'] as const;
export type StagingMode = (typeof STAGING_MODES)[number];

export const NEXT_ACTIONS = ['wait', 'retry', 'poweroff', 'reboot'] as const;
export type NextAction = (typeof NEXT_ACTIONS)[number];

/** The steps in the order an install runs them. */
export const STEP_NAMES = [
  'wipe',
  'partition',
  'mkfs',
  'receive',
  'verify',
  'extract',
  'identity',
  'bootloader',
  'hooks',
  'finish',
] as const;
export type StepName = (typeof STEP_NAMES)[number];

export interface CastSession {
  portbase: number;
  /** Rendezvous address; default: the broadcast address of the boot NIC. */
  rdvAddress?: string;
  /** Give up if the transfer does not start within this time. */
  startTimeoutSec: number;
  /** Give up if the sender is silent this long mid-transfer. */
  receiveTimeoutSec: number;
}

export interface InstallPlan {
  node: { mac: string; hostname: string; ip?: string };
  image: {
    name: string;
    format: 'tar.zst';
    /** Addition: expected stream size, when the server knows it (a prebuilt file). */
    sizeBytes?: number;
    /** Addition: expected sha256 (hex) of the compressed stream, when known. */
    sha256?: string;
  };
  session: CastSession;
  disk: { device?: string; wipe: boolean; layout: Partition[] };
  bootloader: Bootloader;
  network: { mode: 'dhcp' | 'static'; address?: string; gateway?: string; dns?: string[] };
  staging: StagingMode;
  /** Addition: tmpfs staging needs this much free space when image.sizeBytes is unknown. */
  stagingCapBytes?: number;
  /** Commands run with /bin/sh in the image chroot after the bootloader. */
  hooks: string[];
  /** Addition: the steps to run (default: all of STEP_NAMES, in that order). */
  steps?: StepName[];
}

export interface StepError {
  code: string;
  message: string;
  command?: string[];
  exitCode?: number;
  outputTail?: string;
  /** Addition: the one-line remedy of the agent's coded error. */
  remedy?: string;
}

export const STEP_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface StepReport {
  step: string;
  status: StepStatus;
  durationMs?: number;
  bytes?: number;
  rateBytesPerSec?: number;
  error?: StepError;
  /** Addition: step facts worth keeping (staging mode, sha256, bootloader targets...). */
  detail?: Record<string, unknown>;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export interface LogLine {
  time: string;
  level: (typeof LOG_LEVELS)[number];
  msg: string;
}

/**
 * The agent's last call of an install, after every step of the plan succeeded (hooks and
 * finish included): only this makes the node `installed`.
 */
export interface InstallComplete {
  /** The whole install, from the plan to the end of the last step. */
  durationMs: number;
  /** The image stream as the agent received it (absent when the plan had no receive step). */
  image?: { bytes: number; sha256: string };
}

export interface Inventory {
  cpus: number;
  memoryBytes: number;
  disks: { name: string; sizeBytes: number; model?: string; rotational?: boolean }[];
  nics: { name: string; mac: string; speedMbps?: number }[];
  /** Addition: "x64" or "arm64" (Node's process.arch), and the agent's version. */
  arch?: string;
  agentVersion?: string;
}

export interface NextAnswer {
  action: NextAction;
}
