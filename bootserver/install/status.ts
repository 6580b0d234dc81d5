import { STEP_NAMES } from '../../contract/index.ts';
import type { InstallStatus, NodeProgress, SessionInfo } from '../api-types.ts';
import type { NodeConfig } from '../config.ts';
import type { NodeRecord } from '../state/node-store.ts';

// `rackcast status`: each node's install record (kept by the lifecycle as reports arrive)
// beside the sessions. Nothing is read from the event log, so the cost is one row per node
// whatever the install wrote, and the view survives a server restart.

export function installStatus(nodes: readonly NodeRecord[], configured: ReadonlyMap<string, NodeConfig>, sessions: readonly SessionInfo[], now = Date.now()): InstallStatus {
  const byId = new Map(sessions.map((s) => [s.id, s]));
  return {
    time: new Date(now).toISOString(),
    sessions: [...sessions],
    nodes: nodes.filter((n) => n.configured).map((n) => nodeProgress(n, configured.get(n.mac), byId, now)),
  };
}

function nodeProgress(n: NodeRecord, conf: NodeConfig | undefined, sessions: ReadonlyMap<number, SessionInfo>, now: number): NodeProgress {
  const r = n.install;
  const session = r.session === null ? undefined : sessions.get(r.session);
  const totalBytes = r.receivedBytes ?? session?.estimatedBytes ?? null;
  const receiving = r.step === 'receive' && r.stepStatus === 'running';
  const rate = receiving ? r.rateBytesPerSec : null;
  const active = n.phase === 'installing' || n.phase === 'install';
  return {
    mac: n.mac,
    hostname: n.hostname,
    phase: n.phase,
    image: conf?.image ?? null,
    session: r.session,
    step: r.step,
    stepStatus: r.stepStatus,
    stepsDone: r.stepsDone.length,
    stepsTotal: STEP_NAMES.length,
    bytes: r.bytes,
    totalBytes,
    rateBytesPerSec: rate,
    etaSec: rate && r.bytes !== null && totalBytes !== null && totalBytes >= r.bytes ? Math.round((totalBytes - r.bytes) / rate) : null,
    elapsedSec: active && r.startedAt !== null ? Math.round((now - r.startedAt) / 1000) : null,
    failure: n.phase === 'failed' ? (r.failure ?? { step: null, code: null, message: 'failed (no reason recorded)' }) : null,
    note: n.phase === 'install' ? r.note : null,
    conflict: r.conflict,
    netboots: r.netboots,
    updated: new Date(n.updated).toISOString(),
  };
}
