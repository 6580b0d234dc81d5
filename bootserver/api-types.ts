// Wire types of the boot server's admin API (/api/v1); the agent calls are the contract's
// (contract/agent-api.ts).

export const NODE_PHASES = ['discovered', 'install', 'installing', 'installed', 'failed', 'localboot'] as const;
export type NodePhase = (typeof NODE_PHASES)[number];

import type { Inventory } from '../contract/index.ts';
import type { NodeEventData, NodeEventKind } from './state/events.ts';

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
  kind: NodeEventKind;
  /** For a person; programs read `data`. */
  message: string;
  data: NodeEventData;
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

// ---- install status (GET /api/v1/installs; `rackcast status`) ----

export type SessionState = 'waiting' | 'streaming' | 'done' | 'failed';

export interface SessionInfo {
  id: number;
  image: string;
  state: SessionState;
  portbase: number;
  minReceivers: number;
  /** Nodes that fetched a plan for this session, and how many of them joined the stream. */
  members: number;
  joined: number;
  createdAt: string;
  startedAt: string | null;
  /** Compressed bytes every receiver confirmed so far. */
  bytes: number;
  /** Expected compressed size: exact at the end, extrapolated from the tar position before. */
  estimatedBytes: number | null;
  rateBytesPerSec: number;
  error?: string;
}

export interface NodeProgress {
  mac: string;
  hostname: string | null;
  phase: NodePhase;
  image: string | null;
  session: number | null;
  /** The step last reported, and how it stands. */
  step: string | null;
  stepStatus: 'running' | 'succeeded' | 'failed' | null;
  stepsDone: number;
  stepsTotal: number;
  /** Stream bytes received so far (the receive step), with its rate and time left. */
  bytes: number | null;
  totalBytes: number | null;
  rateBytesPerSec: number | null;
  etaSec: number | null;
  /** Seconds since the agent fetched its plan. */
  elapsedSec: number | null;
  failure: { step: string | null; code: string | null; message: string; remedy?: string; command?: string[]; exitCode?: number; outputTail?: string } | null;
  /** Why it waits (e.g. for the next session). */
  note: string | null;
  /** A second host claimed this node during its install: see the node's events. */
  conflict: string | null;
  /** Times the node netbooted again during this install (each time its token was issued anew). */
  netboots: number;
  updated: string;
}

export interface InstallStatus {
  time: string;
  sessions: SessionInfo[];
  nodes: NodeProgress[];
}
