import { transferDrops, type Transfer } from './transfer.ts';
import type { TransferIo } from './transfer-io.ts';

// The counters of one TFTP server's transfer sockets, under the names GET /api/v1/status
// shows: tftp.dropped.<reason>, tftp.io.mmsg|dgram|wakeups, tftp.busyPoll.answered|missed.
// A running transfer counts its drops on itself (transfer.ts) and its reader counts its
// wake-ups; this sums the ended transfers and reads the running ones as they stand.

interface Running {
  transfer: Transfer;
  io: TransferIo;
}

export class TransferCounters {
  private readonly ended = new Map<string, number>(['tftp.io.mmsg', 'tftp.io.dgram', 'tftp.io.wakeups', 'tftp.busyPoll.answered', 'tftp.busyPoll.missed'].map((k) => [k, 0]));
  private readonly running = new Set<Running>();

  /** A transfer started on `io`; call what this returns when it ended (again: nothing). */
  add(transfer: Transfer, io: TransferIo): () => void {
    const entry = { transfer, io };
    this.running.add(entry);
    bump(this.ended, `tftp.io.${io.path}`, 1);
    return () => {
      if (!this.running.delete(entry)) return;
      io.end();
      addUp(this.ended, entry);
    };
  }

  /** Every counter so far; drop reasons only once seen. */
  snapshot(): Record<string, number> {
    const all = new Map(this.ended);
    for (const r of this.running) addUp(all, r);
    return Object.fromEntries(all);
  }
}

function addUp(into: Map<string, number>, { transfer, io }: Running): void {
  for (const [reason, n] of Object.entries(transferDrops(transfer))) bump(into, `tftp.dropped.${reason}`, n);
  const st = io.stats();
  if (!st) return;
  bump(into, 'tftp.io.wakeups', st.wakeups);
  bump(into, 'tftp.busyPoll.answered', st.spinsAnswered);
  bump(into, 'tftp.busyPoll.missed', st.spinsMissed);
}

function bump(m: Map<string, number>, key: string, n: number): void {
  m.set(key, (m.get(key) ?? 0) + n);
}
