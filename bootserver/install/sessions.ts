import type { Logger } from '../../common/log.ts';
import type { SessionInfo } from '../api-types.ts';
import type { BootConfig, NodeConfig, SessionSettings } from '../config.ts';
import { ImageMissingError, SessionsFullError } from '../errors.ts';
import type { NodeRecord } from '../state/node-store.ts';
import type { SessionStore } from '../state/session-store.ts';
import { checkImageDir } from './image-stream.ts';
import type { Lifecycle } from './lifecycle.ts';
import { ImageSession, type SessionMember } from './session.ts';

// Which session a node joins. Nodes of one image with the same session settings share a
// session; while one streams, the next waits beside it on its own ports, so a node that
// comes late is never refused, only told to wait. Session outcomes go to the lifecycle,
// which decides the node's phase.

/** Sessions alive at once (waiting or streaming), each on its own pair of ports. */
export const MAX_SESSIONS = 64;
/** Ended sessions kept for `rackcast status`. */
const HISTORY = 20;

export interface Assignment {
  session: SessionInfo;
  /** Upper bound of the stream size (the uncompressed tar), if the image could be measured. */
  tarBytes: Promise<number | null>;
  /** Why this node does not join the stream that is already running. */
  note: string | null;
}

export class SessionManager {
  private readonly cfg: BootConfig;
  private readonly lifecycle: Lifecycle;
  private readonly log: Logger;
  private readonly live = new Map<number, { key: string; session: ImageSession; done: Promise<void> }>();
  private readonly ended: SessionInfo[] = [];
  private readonly stored: SessionStore;

  constructor(deps: { cfg: BootConfig; lifecycle: Lifecycle; sessions: SessionStore; log: Logger }) {
    this.cfg = deps.cfg;
    this.lifecycle = deps.lifecycle;
    this.stored = deps.sessions;
    this.log = deps.log;
  }

  /** The session a node's plan points at: the waiting one of its image, made if needed. */
  assign(node: NodeConfig, record: NodeRecord, address: string): Assignment {
    const image = this.cfg.images[node.image!]!;
    try {
      checkImageDir(image.dir);
    } catch (err) {
      if (!(err instanceof ImageMissingError)) throw err;
      // Said on the node too: its agent keeps asking, and `rackcast status` shows why it waits.
      this.lifecycle.blocked(record, err.message);
      throw new ImageMissingError(`image ${node.image} of node ${node.hostname}: ${err.message}`, { image: node.image, dir: image.dir }, `put the unpacked root filesystem in ${image.dir} (or set images.${node.image}.dir), then \`rackcast node reinstall ${node.hostname}\``);
    }
    const settings = { ...image.session, ...node.session };
    const key = sessionKey(node.image!, settings);
    const streaming = [...this.live.values()].find((l) => l.key === key && l.session.state === 'streaming' && !l.session.member(node.mac)?.result);
    let waiting = [...this.live.values()].find((l) => l.key === key && l.session.state === 'waiting')?.session;
    waiting ??= this.create(node.image!, key, settings);
    waiting.admit(node.mac, address);
    const note = streaming ? `session ${streaming.session.spec.id} of ${node.image} was already streaming; this node waits for session ${waiting.spec.id}` : null;
    this.lifecycle.sessionEvent(node.mac, waiting.spec.id, node.image!, note ? 'waits' : 'assigned', note ?? `assigned to session ${waiting.spec.id} of ${node.image} (portbase ${waiting.spec.portbase})`);
    return { session: waiting.info(), tarBytes: waiting.tarEstimate, note };
  }

  list(): SessionInfo[] {
    return [...this.ended, ...[...this.live.values()].map((l) => l.session.info())].sort((a, b) => a.id - b.id);
  }

  /** Ends every session: their nodes take the next session, after the restart. */
  async stop(): Promise<void> {
    for (const l of this.live.values()) l.session.interrupt(`the boot server stopped during session ${l.session.spec.id}; it joins the next session`);
    await Promise.all([...this.live.values()].map((l) => l.done));
  }

  private create(image: string, key: string, settings: SessionSettings): ImageSession {
    const used = new Set([...this.live.values()].map((l) => l.session.spec.portbase));
    let portbase: number | undefined;
    for (let i = 0; i < MAX_SESSIONS && portbase === undefined; i++) {
      const p = this.cfg.cast.portbase + 2 * i;
      if (!used.has(p) && p <= 65534) portbase = p;
    }
    if (portbase === undefined) throw new SessionsFullError(MAX_SESSIONS);
    const minReceivers = settings.minReceivers ?? this.markedFor(key);
    const session = new ImageSession(
      {
        id: this.stored.nextId(),
        image,
        dir: this.cfg.images[image]!.dir,
        zstdLevel: this.cfg.images[image]!.zstdLevel,
        settings: { ...settings, minReceivers },
        portbase,
        interface: this.cfg.server.interface,
        startTimeoutSec: this.cfg.cast.startTimeoutSec,
        batchIo: this.cfg.server.batchIo,
      },
      this.log,
    );
    session.on('joined', (m) => this.lifecycle.sessionEvent(m.mac, session.spec.id, image, 'joined', `joined session ${session.spec.id} from ${m.address}`));
    session.on('member-ended', (m: SessionMember) => this.lifecycle.sessionEnded(m.mac, session.spec.id, image, m.result!));
    session.on('started', (info) => {
      this.stored.streaming(info.id);
      this.log.info(`session ${info.id} of ${image} streams to ${info.joined} node(s)`, { portbase });
    });
    this.stored.add({ id: session.spec.id, image, portbase });
    const done = session.run().finally(() => {
      this.stored.ended(session.spec.id, session.endedAs());
      this.live.delete(session.spec.id);
      this.ended.push(session.info());
      this.ended.splice(0, this.ended.length - HISTORY);
    });
    this.live.set(session.spec.id, { key, session, done });
    this.log.info(`session ${session.spec.id} of ${image} waits for ${minReceivers} node(s)`, { portbase, minWaitSec: settings.minWaitSec, maxWaitSec: settings.maxWaitSec });
    return session;
  }

  /** Nodes marked for install with these session settings and not in a running stream. */
  private markedFor(key: string): number {
    const streaming = [...this.live.values()].filter((l) => l.session.state === 'streaming');
    const n = this.cfg.nodes.filter((c) => {
      if (!c.image || sessionKey(c.image, { ...this.cfg.images[c.image]!.session, ...c.session }) !== key) return false;
      const phase = this.lifecycle.store.get(c.mac)?.phase;
      return (phase === 'install' || phase === 'installing') && !streaming.some((l) => l.session.has(c.mac) && !l.session.member(c.mac)!.result);
    }).length;
    return Math.max(1, n);
  }
}

function sessionKey(image: string, s: SessionSettings): string {
  return JSON.stringify([image, s.minReceivers ?? null, s.minWaitSec, s.maxWaitSec]);
}
