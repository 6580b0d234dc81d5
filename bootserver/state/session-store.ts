import type { DatabaseSync, StatementSync } from 'node:sqlite';

// Image sessions as the database remembers them. A session itself lives in the server's
// memory (a sender and its sockets); what must outlive a restart is its id (node install
// records name it, so ids never repeat) and, for a session that was waiting or streaming
// when the server died, what it takes to tell its receivers that it is gone.

export type StoredSessionState = 'waiting' | 'streaming' | 'done' | 'failed' | 'interrupted';

export interface StoredSession {
  id: number;
  image: string;
  portbase: number;
  state: StoredSessionState;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
  id INTEGER PRIMARY KEY,
  image TEXT NOT NULL,
  portbase INTEGER NOT NULL,
  state TEXT NOT NULL,
  created INTEGER NOT NULL,
  ended INTEGER
);
`;

export class SessionStore {
  private readonly q: Record<'next' | 'insert' | 'state' | 'end' | 'live' | 'interrupt', StatementSync>;
  private readonly now: () => number;

  constructor(db: DatabaseSync, now: () => number = Date.now) {
    db.exec(SCHEMA);
    this.now = now;
    this.q = {
      next: db.prepare('SELECT COALESCE(MAX(id), 0) + 1 AS next FROM sessions'),
      insert: db.prepare('INSERT INTO sessions (id, image, portbase, state, created) VALUES (?, ?, ?, ?, ?)'),
      state: db.prepare('UPDATE sessions SET state = ? WHERE id = ?'),
      end: db.prepare('UPDATE sessions SET state = ?, ended = ? WHERE id = ?'),
      live: db.prepare("SELECT id, image, portbase, state FROM sessions WHERE state IN ('waiting', 'streaming') ORDER BY id"),
      interrupt: db.prepare("UPDATE sessions SET state = 'interrupted', ended = ? WHERE state IN ('waiting', 'streaming')"),
    };
  }

  /** The id the next session gets: past every one ever made. */
  nextId(): number {
    return (this.q.next.get() as { next: number }).next;
  }

  add(s: Omit<StoredSession, 'state'>): void {
    this.q.insert.run(s.id, s.image, s.portbase, 'waiting', this.now());
  }

  streaming(id: number): void {
    this.q.state.run('streaming', id);
  }

  ended(id: number, state: 'done' | 'failed' | 'interrupted'): void {
    this.q.end.run(state, this.now(), id);
  }

  /** Sessions a previous run of the server left waiting or streaming (it died); they are marked interrupted. */
  takeOrphans(): StoredSession[] {
    const live = this.q.live.all() as unknown as StoredSession[];
    this.q.interrupt.run(this.now());
    return live;
  }
}
