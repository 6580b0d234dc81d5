import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** Opens (creating) the state database under `stateDir`; WAL keeps writes cheap under a boot storm. */
export function openStateDb(stateDir: string): DatabaseSync {
  // Tokens' hashes, events and the token files live here: for the server's user only.
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, 'rackcast.db');
  const db = new DatabaseSync(file);
  // It holds every node's bearer token.
  chmodSync(file, 0o600);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
  return db;
}
