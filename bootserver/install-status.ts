import { STEP_NAMES, type StepReport } from '../agent/plan.ts';
import type { InstallStatus, NodeEvent, NodeProgress, SessionInfo } from './api-types.ts';
import type { NodeConfig } from './config.ts';
import type { NodeRecord, NodeStore } from './state.ts';

// `rackcast status` from the event log: every step report, session event and phase change
// is already there, so the view survives a server restart and needs no second record.
// Only the current install counts: events before the node last became `installing`.

/** Events read per node; an install writes about 30 plus a progress report every 5 s. */
const EVENTS_PER_NODE = 200;

export function installStatus(store: NodeStore, configured: Map<string, NodeConfig>, sessions: { list(): SessionInfo[]; sessionOf(mac: string): number | undefined }, now = Date.now()): InstallStatus {
  const all = sessions.list();
  const nodes = store.list().filter((n) => n.configured).map((n) => nodeProgress(n, store.events(n.mac, EVENTS_PER_NODE), configured.get(n.mac), all, sessions.sessionOf(n.mac), now));
  return { time: new Date(now).toISOString(), sessions: all, nodes };
}

export function nodeProgress(n: NodeRecord, events: NodeEvent[], conf: NodeConfig | undefined, sessions: SessionInfo[], sessionId: number | undefined, now: number): NodeProgress {
  const start = events.findLastIndex((e) => e.kind === 'phase' && / -> installing:/.test(e.message));
  const current = start >= 0 ? events.slice(start) : [];
  const steps = current.filter((e) => e.kind === 'step' && e.data).map((e) => e.data as unknown as StepReport);
  const last = steps.at(-1) ?? null;
  const receive = steps.findLast((s) => s.step === 'receive' && s.bytes !== undefined);
  const session = sessionId === undefined ? undefined : sessions.find((s) => s.id === sessionId);
  const totalBytes = receive?.status === 'succeeded' ? receive.bytes! : (session?.estimatedBytes ?? null);
  const receiving = last?.step === 'receive' && last.status === 'running';
  const rate = receiving ? (receive?.rateBytesPerSec ?? null) : null;
  const bytes = receive?.bytes ?? null;
  return {
    mac: n.mac,
    hostname: n.hostname,
    phase: n.phase,
    image: conf?.image ?? null,
    session: sessionId ?? null,
    step: last?.step ?? null,
    stepStatus: last?.status ?? null,
    stepsDone: new Set(steps.filter((s) => s.status === 'succeeded').map((s) => s.step)).size,
    stepsTotal: STEP_NAMES.length,
    bytes,
    totalBytes,
    rateBytesPerSec: rate,
    etaSec: rate && bytes !== null && totalBytes !== null && totalBytes >= bytes ? Math.round((totalBytes - bytes) / rate) : null,
    elapsedSec: start >= 0 && (n.phase === 'installing' || n.phase === 'install') ? Math.round((now - Date.parse(events[start]!.time)) / 1000) : null,
    failure: n.phase === 'failed' ? failure(current, steps) : null,
    note: n.phase === 'install' ? (events.findLast((e) => e.kind === 'session' || (e.kind === 'phase' && e.message.includes('session')))?.message ?? null) : null,
    updated: new Date(n.updated).toISOString(),
  };
}

/** The agent's own report of the failed step, else the server's reason (e.g. dropped from the stream). */
function failure(events: NodeEvent[], steps: StepReport[]): NodeProgress['failure'] {
  const failed = steps.findLast((s) => s.status === 'failed');
  if (failed?.error) return { step: failed.step, ...failed.error };
  const phase = events.findLast((e) => e.kind === 'phase' && / -> failed:/.test(e.message));
  return { step: failed?.step ?? null, code: null, message: phase ? phase.message.replace(/^.* -> failed: /, '') : 'failed (no reason recorded)' };
}
