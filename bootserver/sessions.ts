import type { Logger } from '../common/log.ts';
import type { BootConfig, NodeConfig, SessionSettings } from './config.ts';
import { ApiError } from './errors.ts';
import { checkImageDir, ImageStreamError } from './image-stream.ts';
import type { SessionInfo } from './api-types.ts';
import { ImageSession, type SessionMember } from './session.ts';
import type { NodeStore } from './state.ts';

// Which session a node joins. Nodes of one image with the same session settings share a
// session; while one streams, the next waits beside it on its own ports, so a node that
// comes late is never refused, only told to wait. Session outcomes become node phases:
// a node that fell out of the stream is failed with the reason, one that missed the start
// goes back to install and joins the next session when its agent retries.

/** Sessions alive at once (waiting or streaming), each on its own pair of ports. */
export const MAX_SESSIONS = 64;
/** Ended sessions kept for `rackcast status`. */
const HISTORY = 20;

export interface Assignment {
  session: SessionInfo;
  /** Upper bound of the stream size (the uncompressed tar), if the image could be measured. */
  tarBytes: Promise<number | null>;
  /** Why this node does not join the stream that is already running. */
  note?: string;
}

export class SessionManager {
  private readonly cfg: BootConfig;
  private readonly nodes: NodeStore;
  private readonly log: Logger;
  private readonly live = new Map<number, { key: string; session: ImageSession; done: Promise<void> }>();
  private readonly ended: SessionInfo[] = [];
  private readonly lastSession = new Map<string, number>();
  private nextId = 1;

  constructor(deps: { cfg: BootConfig; nodes: NodeStore; log: Logger }) {
    this.cfg = deps.cfg;
    this.nodes = deps.nodes;
    this.log = deps.log;
  }

  /** The session a node's plan points at: the waiting one of its image, made if needed. */
  assign(node: NodeConfig, address: string): Assignment {
    const image = this.cfg.images[node.image!]!;
    try {
      checkImageDir(image.dir);
    } catch (err) {
      if (!(err instanceof ImageStreamError)) throw err;
      // Said on the node too: its agent keeps asking, and `rackcast status` shows why it waits.
      this.nodes.event(node.mac, 'session', `cannot install: ${err.message}`);
      throw new ApiError(409, 'BOOT_API_IMAGE_MISSING', `image ${node.image} of node ${node.hostname}: ${err.message}`, {
        details: { image: node.image, dir: image.dir },
        remedy: `put the unpacked root filesystem in ${image.dir} (or set images.${node.image}.dir), then \`rackcast node reinstall ${node.hostname}\``,
      });
    }
    const settings = { ...image.session, ...node.session };
    const key = sessionKey(node.image!, settings);
    const streaming = [...this.live.values()].find((l) => l.key === key && l.session.state === 'streaming' && !l.session.member(node.mac)?.result);
    let waiting = [...this.live.values()].find((l) => l.key === key && l.session.state === 'waiting')?.session;
    waiting ??= this.create(node.image!, key, settings);
    waiting.admit(node.mac, address);
    this.lastSession.set(node.mac, waiting.spec.id);
    const note = streaming ? `session ${streaming.session.spec.id} of ${node.image} was already streaming; this node waits for session ${waiting.spec.id}` : undefined;
    this.nodes.event(node.mac, 'session', note ?? `assigned to session ${waiting.spec.id} of ${node.image} (portbase ${waiting.spec.portbase})`);
    return { session: waiting.info(), tarBytes: waiting.tarEstimate, ...(note ? { note } : {}) };
  }

  list(): SessionInfo[] {
    return [...this.ended, ...[...this.live.values()].map((l) => l.session.info())].sort((a, b) => a.id - b.id);
  }

  /** The id of the session a node was last assigned to. */
  sessionOf(mac: string): number | undefined {
    return this.lastSession.get(mac);
  }

  async stop(): Promise<void> {
    for (const l of this.live.values()) l.session.stop();
    await Promise.all([...this.live.values()].map((l) => l.done));
  }

  private create(image: string, key: string, settings: SessionSettings): ImageSession {
    const used = new Set([...this.live.values()].map((l) => l.session.spec.portbase));
    let portbase: number | undefined;
    for (let i = 0; i < MAX_SESSIONS && portbase === undefined; i++) {
      const p = this.cfg.cast.portbase + 2 * i;
      if (!used.has(p) && p <= 65534) portbase = p;
    }
    if (portbase === undefined) {
      throw new ApiError(503, 'BOOT_API_SESSIONS_FULL', `${MAX_SESSIONS} image sessions are already waiting or streaming`, { remedy: 'let running sessions end; the agent retries' });
    }
    const minReceivers = settings.minReceivers ?? this.markedFor(key);
    const session = new ImageSession(
      {
        id: this.nextId++,
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
    session.on('joined', (m) => this.nodes.event(m.mac, 'session', `joined session ${session.spec.id} from ${m.address}`));
    session.on('member-ended', (m) => this.memberEnded(session, m));
    session.on('started', (info) => this.log.info(`session ${info.id} of ${image} streams to ${info.joined} node(s)`, { portbase }));
    const done = session.run().finally(() => {
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
      const phase = this.nodes.get(c.mac)?.phase;
      return (phase === 'install' || phase === 'installing') && !streaming.some((l) => l.session.has(c.mac) && !l.session.member(c.mac)!.result);
    }).length;
    return Math.max(1, n);
  }

  private memberEnded(session: ImageSession, m: SessionMember): void {
    const id = session.spec.id;
    const node = this.nodes.get(m.mac);
    if (!node) return;
    const r = m.result!;
    if (r.ok) return this.nodes.event(m.mac, 'session', `received the whole image in session ${id}`);
    this.nodes.event(m.mac, 'session', r.reason!);
    // Only an install this session belongs to changes phase (not one the admin reset since).
    if (node.phase !== 'installing' || this.lastSession.get(m.mac) !== id) return;
    if (r.late) this.nodes.setPhase(m.mac, 'install', `${r.reason}; it joins the next session`);
    else this.nodes.setPhase(m.mac, 'failed', r.reason!, { session: id });
  }
}

function sessionKey(image: string, s: SessionSettings): string {
  return JSON.stringify([image, s.minReceivers ?? null, s.minWaitSec, s.maxWaitSec]);
}
