import type { InstallComplete, StepReport } from '../../contract/index.ts';
import type { NodePhase } from '../api-types.ts';
import type { NodeConfig } from '../config.ts';
import { DigestMismatchError, PhaseError } from '../errors.ts';
import type { NodeEventData, SessionEventKind } from '../state/events.ts';
import { hashToken, NO_INSTALL, newToken, type InstallRecord, type NodeRecord, type NodeStore } from '../state/node-store.ts';

// The one owner of a node's lifecycle: nothing else changes a node's phase or its install
// record. Each transition is named for what caused it:
//
//   (new)      -> discovered   discover          a stranger netboots (unknownNodes: discover)
//   (new)      -> install      configure         a node in the config
//   discovered -> install      configure         the stranger is now in the config
//   install    -> installing   planFetched       its agent fetched the plan (again: same phase)
//   installing -> installed    installCompleted  the agent's report after its last step
//   installing -> failed       stepReported      a step failed
//   installing -> failed       sessionEnded      it fell out of the stream
//   installing -> install      sessionEnded      the stream started without it, or the server
//                                                stopped: next session
//   installing -> install      recover           the server restarted before its image arrived
//   any        -> install      reinstall         admin
//   any        -> localboot    localboot         admin
//
// Tokens: each fetch of the node's installer script issues a new one and revokes the one
// before (a node that netbooted again runs a new agent). Only its hash is stored. A fetch
// while the node's agent is still calling, or a call with the revoked token, is a second
// host claiming the node: both are kept as a conflict the admin sees in `rackcast status`,
// never a silent takeover. After the completion report the token may only ask `next`.
// Entering install from a phase in which no agent of the node runs (discovered, installed,
// localboot) drops the token; from failed or installing it stays, so a waiting agent learns
// `retry` from /next.

const TRANSITIONS: Record<NodePhase, readonly NodePhase[]> = {
  discovered: ['install', 'localboot'],
  install: ['install', 'installing', 'localboot'],
  installing: ['install', 'installing', 'installed', 'failed', 'localboot'],
  installed: ['install', 'localboot'],
  failed: ['install', 'localboot'],
  localboot: ['install', 'localboot'],
};

const DROP_TOKEN_FROM: readonly NodePhase[] = ['discovered', 'installed', 'localboot'];

/** An agent that called within this time still runs: agents report at least every 30 s while a step runs. */
const AGENT_ALIVE_MS = 90_000;

/**
 * How a node's part of an image session ended. `retry`: not the node's fault (the stream
 * started before it joined, or the server stopped): it takes the next session.
 */
export interface SessionOutcome {
  ok: boolean;
  retry?: boolean;
  reason?: string;
  /** The sha256 of the stream the server sent (known once the node received it whole). */
  sha256?: string;
}

export class Lifecycle {
  readonly store: NodeStore;
  private readonly now: () => number;
  /** The last agent call per node (in memory: after a restart, conflicts show from the next call on). */
  private readonly agentCalls = new Map<string, { at: number; address: string }>();
  private readonly revokedSaid = new Map<string, number>();

  constructor(store: NodeStore, now: () => number = Date.now) {
    this.store = store;
    this.now = now;
  }

  /**
   * Brings the nodes in line with the config: new nodes start in `install` (a configured
   * node is meant to be installed), discovered ones that are now configured too; known
   * phases are kept. Nodes no longer in the config stay, marked unconfigured.
   */
  configure(nodes: readonly NodeConfig[]): void {
    const macs = new Set(nodes.map((n) => n.mac));
    this.store.transaction(() => {
      for (const r of this.store.list()) if (r.configured && !macs.has(r.mac)) this.store.setConfigured(r.mac, r.hostname, false);
      for (const n of nodes) {
        const cur = this.store.get(n.mac);
        if (!cur) {
          this.create(n.mac, n.hostname, 'install', true, null, 'in the config');
          continue;
        }
        this.store.setConfigured(n.mac, n.hostname, true);
        if (cur.phase === 'discovered') this.move(cur, 'install', 'now in the config');
      }
    });
  }

  /** Registers an unknown machine seen netbooting (unknownNodes: discover). */
  discover(mac: string, arch: number | null): NodeRecord {
    return this.store.get(mac) ?? this.create(mac, null, 'discovered', false, arch, 'netbooted, not in the config');
  }

  /**
   * A new token for the agent the node's installer script will start (the script was
   * fetched from `address`); the token before stops working.
   */
  issueToken(node: NodeRecord, address: string): string {
    const token = newToken();
    const last = this.agentCalls.get(node.mac);
    const alive = node.phase === 'installing' && last !== undefined && this.now() - last.at < AGENT_ALIVE_MS;
    const conflict = alive ? `its installer was fetched again from ${address} while its agent at ${last.address} was running` : null;
    this.store.setToken(node.mac, hashToken(token), 'install', node.tokenHash);
    this.store.event(node.mac, { kind: 'token', address, replaced: node.tokenHash !== null, ...(conflict ? { conflict } : {}) });
    if (node.phase === 'installing') this.store.setInstall(node.mac, { ...node.install, netboots: node.install.netboots + 1, conflict: node.install.conflict ?? conflict });
    return token;
  }

  /** An agent call with the node's current token. */
  agentCalled(node: NodeRecord, address: string): void {
    this.agentCalls.set(node.mac, { at: this.now(), address });
  }

  /** A call with the token the node's last script fetch revoked: another host holds it. Said once per node and minute. */
  revokedTokenUsed(node: NodeRecord, address: string): void {
    const said = this.revokedSaid.get(node.mac);
    if (said !== undefined && this.now() - said < 60_000) return;
    this.revokedSaid.set(node.mac, this.now());
    const conflict = `a revoked token of this node was used from ${address}`;
    this.store.event(node.mac, { kind: 'conflict', address, reason: conflict });
    // The first conflict of an install names the takeover; later ones are in the events.
    if (!node.install.conflict) this.store.setInstall(node.mac, { ...node.install, conflict });
  }

  /** Its agent fetched the plan for `session`: a new install attempt starts. */
  planFetched(node: NodeRecord, session: number, note: string | null): void {
    // A node that netbooted again mid-install starts a new attempt of the same install: what it went through stays visible.
    const same = node.phase === 'installing';
    this.move(node, 'installing', 'agent fetched the plan', { ...NO_INSTALL, startedAt: this.now(), session, note, ...(same ? { netboots: node.install.netboots, conflict: node.install.conflict } : {}) });
  }

  /** Writes the report; a failed step fails the install. Reports outside an install are kept, not acted on (false). */
  stepReported(node: NodeRecord, report: StepReport): boolean {
    this.store.event(node.mac, { kind: 'step', report });
    if (node.phase !== 'installing') return false;
    const rec = node.install;
    const next: InstallRecord = {
      ...rec,
      step: report.step,
      stepStatus: report.status,
      stepsDone: report.status === 'succeeded' && !rec.stepsDone.includes(report.step) ? [...rec.stepsDone, report.step] : rec.stepsDone,
    };
    if (report.step === 'receive' && report.bytes !== undefined) {
      next.bytes = report.bytes;
      next.rateBytesPerSec = report.rateBytesPerSec ?? null;
      if (report.status === 'succeeded') next.receivedBytes = report.bytes;
    }
    if (report.status === 'failed') {
      next.failure = { step: report.step, ...(report.error ?? { code: null, message: `step ${report.step} failed` }) };
      this.move(node, 'failed', `step ${report.step} failed`, next);
    } else {
      this.store.setInstall(node.mac, next);
    }
    return true;
  }

  /**
   * The agent's report after its last step: the node is installed if it received the stream
   * this server sent (the digests agree); otherwise the install fails. A repeated report
   * changes nothing.
   */
  installCompleted(node: NodeRecord, report: InstallComplete): void {
    if (node.phase === 'installed') return;
    this.store.event(node.mac, { kind: 'complete', report });
    const sent = node.install.sentSha256;
    const got = report.image?.sha256;
    if (node.phase === 'installing' && (!sent || sent !== got)) {
      const message = !sent ? 'reported complete, but no image of this install was delivered to it' : `reported an image with sha256 ${got ?? '(none)'}, but the server sent ${sent}`;
      this.move(node, 'failed', message, { ...node.install, failure: { step: null, code: 'BOOT_DIGEST_MISMATCH', message, remedy: 'the node installed bytes this server did not send: check `rackcast node show` for a conflict, then reinstall it' } });
      throw new DigestMismatchError(node.hostname ?? node.mac, message);
    }
    this.move(node, 'installed', 'install complete');
    this.store.setToken(node.mac, node.tokenHash, 'done', node.revokedTokenHash);
  }

  /** The node's part of image session `session` ended; only the install that session belongs to changes phase. */
  sessionEnded(mac: string, session: number, image: string, outcome: SessionOutcome): void {
    const node = this.store.get(mac);
    if (!node) return;
    if (outcome.ok) {
      this.sessionEvent(mac, session, image, 'received');
      if (node.phase === 'installing' && node.install.session === session && outcome.sha256) this.store.setInstall(mac, { ...node.install, sentSha256: outcome.sha256 });
      return;
    }
    this.sessionEvent(mac, session, image, 'left', outcome.reason);
    if (node.phase !== 'installing' || node.install.session !== session) return;
    const reason = outcome.reason ?? `left session ${session}`;
    if (outcome.retry) {
      this.move(node, 'install', `${reason}; it joins the next session`, { ...NO_INSTALL, note: `${reason}; it joins the next session` }, session);
    } else {
      this.move(node, 'failed', reason, { ...node.install, failure: { step: null, code: null, message: reason } }, session);
    }
  }

  sessionEvent(mac: string, session: number, image: string, what: SessionEventKind, note?: string): void {
    this.store.event(mac, { kind: 'session', session, image, what, ...(note ? { note } : {}) });
  }

  /** The node cannot install now (its image is missing): said on the node, its agent keeps asking. */
  blocked(node: NodeRecord, reason: string): void {
    this.store.event(node.mac, { kind: 'blocked', reason });
    this.store.setInstall(node.mac, { ...node.install, note: reason });
  }

  /** Admin: install again at the next boot. */
  reinstall(node: NodeRecord): void {
    this.store.event(node.mac, { kind: 'admin', action: 'reinstall' });
    this.move(node, 'install', 'admin: reinstall', NO_INSTALL);
  }

  /** Admin: boot the disk from now on; false when it already does. */
  localboot(node: NodeRecord): boolean {
    if (node.phase === 'localboot') return false;
    this.store.event(node.mac, { kind: 'admin', action: 'localboot' });
    this.move(node, 'localboot', 'admin: localboot');
    return true;
  }

  /** Forgets discovered machines (not in the config) that were not seen for `ttlMs`; how many. */
  expireDiscovered(ttlMs: number): number {
    return this.store.expireDiscovered(this.now() - ttlMs);
  }

  /**
   * After a restart: a node whose image had not arrived lost its session with the server (it
   * lived in memory) and takes the next one; its agent, told by /next, asks for a new plan.
   * Nodes past receive go on with their install. How many were sent back.
   */
  recover(): number {
    const lost = this.store.list().filter((n) => n.phase === 'installing' && !n.install.stepsDone.includes('receive'));
    const note = 'the boot server restarted before its image arrived; it joins the next session';
    this.store.transaction(() => {
      for (const n of lost) this.move(n, 'install', note, { ...NO_INSTALL, note }, n.install.session ?? undefined);
    });
    return lost.length;
  }

  /** Throws the PhaseError a plan fetch would meet, before anything is assigned to the node. */
  assertPlanAllowed(node: NodeRecord): void {
    check(node, 'installing');
  }

  private create(mac: string, hostname: string | null, phase: NodePhase, configured: boolean, arch: number | null, reason: string): NodeRecord {
    this.store.insert({ mac, hostname, phase, configured, arch });
    this.store.event(mac, { kind: 'phase', from: null, to: phase, reason });
    return this.store.get(mac)!;
  }

  /** The only write of a phase: checks the machine above, drops a stale token, logs the change. */
  private move(node: NodeRecord, to: NodePhase, reason: string, install: InstallRecord = node.install, session?: number): void {
    const from = node.phase;
    check(node, to);
    this.store.setPhase(node.mac, to, install);
    if (to === 'install' && DROP_TOKEN_FROM.includes(from)) this.store.setToken(node.mac, null, null, node.tokenHash);
    if (from !== to) {
      const data: NodeEventData = { kind: 'phase', from, to, reason, ...(session === undefined ? {} : { session }) };
      this.store.event(node.mac, data);
    }
  }
}

function check(node: NodeRecord, to: NodePhase): void {
  if (TRANSITIONS[node.phase].includes(to)) return;
  throw new PhaseError(node.hostname ?? node.mac, node.phase, to, to === 'installing' ? 'run `rackcast node reinstall` first' : 'check the node with `rackcast node show`');
}
