import type { InstallComplete, LogLine, StepReport } from '../../contract/index.ts';
import type { NodePhase } from '../api-types.ts';
import type { ClientKind } from '../firmware.ts';

// What happened to a node, as data. The store keeps each event as JSON beside its kind;
// `rackcast status` reads the fields, never words. describeEvent gives the one line a
// person reads in `rackcast node show`.

export type NodeEventData =
  /** The node's phase changed (only install/lifecycle.ts writes these). */
  | { kind: 'phase'; from: NodePhase | null; to: NodePhase; reason: string; session?: number }
  | { kind: 'step'; report: StepReport }
  | { kind: 'complete'; report: InstallComplete }
  | { kind: 'session'; session: number; image: string; what: SessionEventKind; note?: string }
  /** The node cannot install now; its agent keeps asking, the admin sees why. */
  | { kind: 'blocked'; reason: string }
  | { kind: 'inventory'; cpus: number; memoryBytes: number; disks: number; nics: number }
  | { kind: 'log'; level: LogLine['level']; msg: string; agentTime: string }
  | { kind: 'dhcp'; message: DhcpEventKind; ip?: string; bootFile?: string; client?: ClientKind; arch?: number | null; reason?: string }
  | { kind: 'http'; decision: string; address: string }
  | { kind: 'tftp'; file: string; ok: boolean }
  | { kind: 'admin'; action: 'reinstall' | 'localboot' }
  /** A token was issued to the installer script fetched from `address`; `replaced`: one before it stopped working. */
  | { kind: 'token'; address: string; replaced: boolean; conflict?: string }
  /** A second host claims the node (a revoked token used). */
  | { kind: 'conflict'; address: string; reason: string };

export type NodeEventKind = NodeEventData['kind'];

/** assigned: the plan names the session; waits: a stream of the image already runs, the node is in the next one. */
export type SessionEventKind = 'assigned' | 'waits' | 'joined' | 'received' | 'left';

type DhcpEventKind = 'offer' | 'ack' | 'nak' | 'released' | 'proxy-offer' | 'proxy-ack';

/** One line for a person; nothing reads it back. */
export function describeEvent(e: NodeEventData): string {
  switch (e.kind) {
    case 'phase':
      return `${e.from ?? 'new'} -> ${e.to}: ${e.reason}`;
    case 'step': {
      const r = e.report;
      return `${r.step} ${r.status}${r.error ? `: ${r.error.code} ${r.error.message}` : ''}`;
    }
    case 'complete':
      return `install complete after ${(e.report.durationMs / 1000).toFixed(1)} s${e.report.image ? ` (image sha256 ${e.report.image.sha256.slice(0, 12)}...)` : ''}`;
    case 'session':
      return e.note ?? `${e.what} session ${e.session} of ${e.image}`;
    case 'blocked':
      return `cannot install: ${e.reason}`;
    case 'inventory':
      return `${e.cpus} cpus, ${e.memoryBytes} bytes, ${e.disks} disks, ${e.nics} nics`;
    case 'log':
      return e.msg;
    case 'dhcp':
      return [e.message, e.ip, e.bootFile && `boot ${e.bootFile}`, e.reason && `(${e.reason})`].filter(Boolean).join(' ');
    case 'http':
      return `script: ${e.decision}`;
    case 'tftp':
      return `${e.ok ? 'sent' : 'failed'} ${e.file}`;
    case 'admin':
      return e.action;
    case 'token':
      return `token issued to the installer fetched from ${e.address}${e.replaced ? ' (the one before is revoked)' : ''}${e.conflict ? `: CONFLICT, ${e.conflict}` : ''}`;
    case 'conflict':
      return `CONFLICT: ${e.reason}`;
  }
}
