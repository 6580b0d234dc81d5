import { createHash, type Hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../common/log.ts';
import { CastSender, type ReceiverReport, type SendResult } from '../../cast/index.ts';
import type { SessionInfo, SessionState } from '../api-types.ts';
import type { SessionSettings } from '../config.ts';
import type { SessionOutcome } from './lifecycle.ts';
import { estimateTarBytes, imageStream, type ImageStreamProgress } from './image-stream.ts';

// One image session: a cast sender fed by the image directory as tar | zstd, made while
// it streams. It waits for its nodes (min-receivers / min-wait / max-wait), then streams
// once; a node that comes later belongs to the next session. The session knows its nodes
// by the address their plan request came from, which is the address they join with.

export interface SessionSpec {
  id: number;
  image: string;
  dir: string;
  zstdLevel: number;
  settings: SessionSettings & { minReceivers: number };
  portbase: number;
  interface: string;
  startTimeoutSec: number;
  batchIo: boolean;
}

export interface SessionMember {
  mac: string;
  address: string;
  joined: boolean;
  /** Set when the session ended for this node: done, or why not; `retry`: it takes the next session. */
  result?: SessionOutcome;
}

export type SessionEvents = {
  joined: [SessionMember];
  started: [SessionInfo];
  /** A node's part of the session ended (done, dropped, or the session failed). */
  'member-ended': [SessionMember];
  ended: [SessionInfo];
};

export class ImageSession extends EventEmitter<SessionEvents> {
  readonly spec: SessionSpec;
  state: SessionState = 'waiting';
  private readonly members = new Map<string, SessionMember>();
  private readonly log: Logger;
  private readonly createdAt = Date.now();
  private startedAt: number | null = null;
  private bytes = 0;
  private rate = 0;
  private error: string | undefined;
  private tarTotal: number | null = null;
  /** The uncompressed tar size, an upper bound of the stream the agents can stage for. */
  readonly tarEstimate: Promise<number | null>;
  private readonly tar: ImageStreamProgress = { tarBytes: 0, outBytes: 0, done: false };
  private readonly abort = new AbortController();
  /** Why the server ended the session early (its nodes then take the next one). */
  private interrupted: string | null = null;

  constructor(spec: SessionSpec, log: Logger) {
    super();
    this.spec = spec;
    this.log = log.child(`session ${spec.id}`);
    this.tarEstimate = estimateTarBytes(spec.dir).then(
      (n) => (this.tarTotal = n),
      (err: Error) => {
        this.log.warn('cannot estimate the image size (no ETA, no staging hint)', { error: err.message });
        return null;
      },
    );
  }

  /** Adds a node that fetched its plan (again, after a retry: same membership). */
  admit(mac: string, address: string): void {
    if (this.state !== 'waiting') throw new Error(`session ${this.spec.id} is ${this.state}, not waiting`);
    // One address, one receiver: a node that left the address to another takes its slot.
    for (const [m, member] of this.members) if (member.address === address && m !== mac) this.members.delete(m);
    this.members.set(mac, { mac, address, joined: this.members.get(mac)?.joined ?? false });
  }

  has(mac: string): boolean {
    return this.members.has(mac);
  }

  member(mac: string): SessionMember | undefined {
    return this.members.get(mac);
  }

  /** Runs the sender until the session ended; never throws (failures end every member). */
  async run(): Promise<void> {
    const s = this.spec;
    const sender = new CastSender(
      {
        interface: s.interface,
        portbase: s.portbase,
        minReceivers: s.settings.minReceivers,
        minWaitMs: s.settings.minWaitSec * 1000,
        maxWaitMs: s.settings.maxWaitSec * 1000,
        startTimeoutMs: s.startTimeoutSec * 1000,
        batchIo: s.batchIo,
      },
      { log: this.log.child('cast') },
    );
    sender.on('receiver-joined', (r) => this.onJoined(r));
    sender.on('receiver-left', (r) => this.onLeft(r));
    sender.on('started', () => {
      this.state = 'streaming';
      this.startedAt = Date.now();
      // Nodes that fetched a plan but never joined are not in this stream.
      for (const m of this.members.values()) if (!m.joined) this.end(m, false, `session ${s.id} started (${this.joinedCount()} joined) before this node joined`, true);
      this.log.info('streaming', { image: s.image, receivers: this.joinedCount() });
      this.emit('started', this.info());
    });
    sender.on('progress', (p) => {
      this.bytes = p.bytes;
      this.rate = p.rateBytesPerSec;
    });
    const digest = createHash('sha256');
    const input = hashed(imageStream(s.dir, { zstdLevel: s.zstdLevel, signal: this.abort.signal, progress: this.tar }), digest);
    let result: SendResult | null = null;
    try {
      result = await sender.send(input, { signal: this.abort.signal });
      this.bytes = result.stats.bytes;
      this.state = 'done';
    } catch (err) {
      this.state = 'failed';
      this.error = (err as Error).message;
      this.log.error('session failed', { error: this.error, code: (err as { code?: string }).code });
    }
    // Every receiver that is done got the whole stream: this is what they must report back.
    const sha256 = result ? digest.digest('hex') : undefined;
    for (const m of this.members.values()) {
      const r = result?.receivers.find((x) => x.address === m.address);
      if (this.interrupted) this.end(m, false, this.interrupted, true);
      else if (r?.status === 'done') this.end(m, true, 'done', false, sha256);
      else if (r) this.end(m, false, r.reason ?? r.status);
      else this.end(m, false, this.error ? `session ${s.id} failed: ${this.error}` : `never joined session ${s.id}`, !this.error);
    }
    this.log.info('session ended', { state: this.state, bytes: this.bytes, ok: result?.ok ?? false });
    this.emit('ended', this.info());
  }

  /** Ends a waiting or running session because the server stops: not its nodes' fault, they take the next one. */
  interrupt(reason: string): void {
    this.interrupted ??= reason;
    this.abort.abort();
  }

  /** How the session ended, for the record that outlives the server. */
  endedAs(): 'done' | 'failed' | 'interrupted' {
    return this.interrupted ? 'interrupted' : this.state === 'done' ? 'done' : 'failed';
  }

  info(): SessionInfo {
    return {
      id: this.spec.id,
      image: this.spec.image,
      state: this.state,
      portbase: this.spec.portbase,
      minReceivers: this.spec.settings.minReceivers,
      members: this.members.size,
      joined: this.joinedCount(),
      createdAt: new Date(this.createdAt).toISOString(),
      startedAt: this.startedAt ? new Date(this.startedAt).toISOString() : null,
      bytes: this.bytes,
      estimatedBytes: this.estimate(),
      rateBytesPerSec: Math.round(this.rate),
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /** zstd's output so far scaled by how much of the tar it has read. */
  private estimate(): number | null {
    if (this.state === 'done') return this.bytes;
    if (this.tar.done) return this.tar.outBytes;
    const fraction = this.tarTotal ? Math.min(1, this.tar.tarBytes / this.tarTotal) : 0;
    return fraction >= 0.01 ? Math.round(this.tar.outBytes / fraction) : null;
  }

  private joinedCount(): number {
    return [...this.members.values()].filter((m) => m.joined).length;
  }

  private onJoined(r: ReceiverReport): void {
    const m = [...this.members.values()].find((x) => x.address === r.address);
    if (!m) {
      this.log.warn('a receiver joined that fetched no plan for this session', { address: r.address });
      return;
    }
    m.joined = true;
    this.emit('joined', m);
  }

  private onLeft(r: ReceiverReport): void {
    const m = [...this.members.values()].find((x) => x.address === r.address);
    if (!m) return;
    if (this.state === 'waiting') m.joined = false;
    else this.end(m, false, `${r.status} from session ${this.spec.id} after ${r.bytesAcked} bytes: ${r.reason ?? r.status}`);
  }

  private end(m: SessionMember, ok: boolean, reason: string, retry = false, sha256?: string): void {
    if (m.result) return;
    m.result = ok ? { ok, ...(sha256 ? { sha256 } : {}) } : { ok, reason, ...(retry ? { retry } : {}) };
    this.emit('member-ended', m);
  }
}

/** Passes the stream through, hashing it on the way: the digest of exactly what the sender was given. */
async function* hashed(input: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    hash.update(chunk);
    yield chunk;
  }
}
