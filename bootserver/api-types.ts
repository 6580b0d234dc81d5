// Wire types of the boot server's HTTP JSON API (/api/v1). The agent imports the agent
// half (types only, erased at build); the CLI the admin half. docs/agent-api.md is the
// prose version of the agent contract.

export const NODE_PHASES = ['discovered', 'install', 'installing', 'installed', 'failed', 'localboot'] as const;
export type NodePhase = (typeof NODE_PHASES)[number];

// ---- agent <-> server (Authorization: Bearer <node token>) ----

export interface Partition {
  name: string;
  role: 'bios-boot' | 'esp' | 'root' | 'swap' | 'data';
  /** "1MiB", "512MiB", "20GiB" or "rest". */
  size: string;
  fs?: 'ext4' | 'xfs' | 'vfat' | 'swap';
  mount?: string;
}

export interface InstallPlan {
  node: { mac: string; hostname: string; ip?: string };
  image: { name: string; format: 'tar.zst' };
  /** The cast transfer to join (udpcast wire). */
  session: {
    portbase: number;
    /** Default: broadcast of the boot NIC. */
    rdvAddress?: string;
    startTimeoutSec: number;
    receiveTimeoutSec: number;
  };
  /** device: default first disk. */
  disk: { device?: string; wipe: boolean; layout: Partition[] };
  bootloader: 'grub' | 'extlinux' | 'none';
  network: { mode: 'dhcp' | 'static'; address?: string; gateway?: string; dns?: string[] };
  staging: 'tmpfs' | 'direct';
  /** Commands run in the image chroot after the bootloader. */
  hooks: string[];
}

export interface StepReport {
  step: string;
  status: 'running' | 'succeeded' | 'failed';
  durationMs?: number;
  bytes?: number;
  rateBytesPerSec?: number;
  error?: { code: string; message: string; command?: string[]; exitCode?: number; outputTail?: string };
}

export interface LogLine {
  time: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
}

export interface Inventory {
  cpus: number;
  memoryBytes: number;
  disks: { name: string; sizeBytes: number; model?: string; rotational?: boolean }[];
  nics: { name: string; mac: string; speedMbps?: number }[];
}

export type NextAction = 'wait' | 'retry' | 'poweroff' | 'reboot';

// ---- admin API (mutations: Authorization: Bearer <admin token>) ----

export interface NodeSummary {
  mac: string;
  hostname: string | null;
  phase: NodePhase;
  /** Whether the node is in the config (false: discovered, or removed from the config). */
  configured: boolean;
  ip: string | null;
  image: string | null;
  /** Client architecture (DHCP option 93) of its last network boot. */
  arch: number | null;
  lastSeen: string | null;
  updated: string;
}

export interface NodeEvent {
  time: string;
  kind: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface NodeDetail extends NodeSummary {
  inventory: Inventory | null;
  events: NodeEvent[];
}

/** Body of POST /api/v1/nodes/reinstall and /localboot: a MAC, host name or range ("n[001-288]"). */
export interface NodeSelection {
  nodes: string;
}

export interface NodeChangeResult {
  changed: string[];
  unchanged: string[];
}

export interface ApiErrorBody {
  error: { code: string; message: string; remedy?: string; details?: Record<string, unknown> };
}

export interface ServerStatus {
  version: string;
  startedAt: string;
  dhcpMode: 'full' | 'proxy' | 'off';
  /** Packets and requests by outcome, including drops by error code ("dhcp.dropped.BOOT_DECODE_DHCP_SHORT"). */
  counters: Record<string, number>;
}
