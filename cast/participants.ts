import { MAX_RECEIVERS } from './codec/opcodes.ts';

// The sender's receiver table: one slot per IP address (udpcast's rule), slots 0..1023
// as the REQACK ready set has 1024 bits. Slots of receivers that left are not reused
// within a transfer, so a late packet can never be credited to a newcomer.

export type ReceiverStatus = 'connected' | 'done' | 'dropped' | 'disconnected';

export interface Participant {
  slot: number;
  address: string;
  capabilities: number;
  rcvbufBytes: number;
  status: ReceiverStatus;
  joinedAt: number;
  /** Last OK or RETRANSMIT: what proves it takes part in the transfer. */
  lastAnswer: number;
  /** Answered at least one REQACK, so it surely got its CONNECT_REPLY. */
  confirmed: boolean;
  bytesAcked: number;
  reason?: string;
}

export class Participants {
  private readonly bySlot: Participant[] = [];
  private readonly byAddress = new Map<string, Participant>();
  private liveCache: Participant[] | null = null;

  get(address: string): Participant | undefined {
    return this.byAddress.get(address);
  }

  at(slot: number): Participant | undefined {
    return this.bySlot[slot];
  }

  /** Registers a receiver, or returns the one already known at that address; null when full. */
  add(address: string, capabilities: number, rcvbufBytes: number, now: number): Participant | null {
    const known = this.byAddress.get(address);
    if (known) return known;
    if (this.bySlot.length >= MAX_RECEIVERS) return null;
    const p: Participant = {
      slot: this.bySlot.length,
      address,
      capabilities,
      rcvbufBytes,
      status: 'connected',
      joinedAt: now,
      lastAnswer: now,
      confirmed: false,
      bytesAcked: 0,
    };
    this.bySlot.push(p);
    this.byAddress.set(address, p);
    this.liveCache = null;
    return p;
  }

  /** Before the start a DISCONNECT frees the address for a later CONNECT_REQ. */
  forget(p: Participant): void {
    this.byAddress.delete(p.address);
    this.setStatus(p, 'disconnected');
  }

  setStatus(p: Participant, status: ReceiverStatus, reason?: string): void {
    p.status = status;
    if (reason) p.reason = reason;
    this.liveCache = null;
  }

  /** Receivers still in the transfer; cached, as it is asked for on every answer. */
  live(): readonly Participant[] {
    this.liveCache ??= this.bySlot.filter((p) => p.status === 'connected');
    return this.liveCache;
  }

  all(): Participant[] {
    return this.bySlot.filter((p) => this.byAddress.get(p.address) === p);
  }
}
