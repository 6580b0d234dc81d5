import type { RemoteInfo, Socket } from 'node:dgram';
import type { GetRequest } from 'tftp';
import { BootError } from '../errors.ts';

// One transfer of the npm `tftp` server as rackcast reaches it: the package's IncomingRequest
// (for a read request its ServerWriter), private fields and all, as in tftp 0.1.2, which
// corrections.ts's version guard insists on. What rackcast adds to it sits under one symbol:
// the transfer's drop counts, which its server sums, and the checked way in for datagrams.

/** Why a transfer socket dropped a datagram (counted as tftp.dropped.<reason>). */
export type DropReason = 'foreignTid' | 'short' | 'long' | 'staleAck' | 'duplicateAck';

export type Receive = (msg: Buffer, from: Pick<RemoteInfo, 'address' | 'port'>) => void;

const TAP = Symbol('rackcast.tftp.transfer');

interface Tap {
  drops: Partial<Record<DropReason, number>>;
  /** The package's message handler behind the transfer-ID and length checks. */
  receive: Receive;
}

export interface Transfer {
  _address: string;
  _port: number;
  _socket: Socket;
  _closed: boolean;
  _closing: boolean;
  _send(packet: Buffer, cb?: () => void): void;
  [TAP]?: Tap;
}

/** Marks a transfer as corrected: from now on it counts its drops, and datagrams reach the package through `receive`. */
export function tapTransfer(t: Transfer, receive: Receive): void {
  t[TAP] = { drops: {}, receive };
}

export function countDrop(t: Transfer, reason: DropReason): void {
  const drops = t[TAP]?.drops;
  if (drops) drops[reason] = (drops[reason] ?? 0) + 1;
}

/** What the transfer dropped so far, by reason. */
export function transferDrops(t: Transfer): Partial<Record<DropReason, number>> {
  return { ...t[TAP]?.drops };
}

/** Where a datagram for the transfer goes in: the same checks dgram's 'message' events pass. */
export function checkedReceive(t: Transfer): Receive {
  return t[TAP]!.receive;
}

/**
 * The transfer behind a read request as the 'request' event hands it over (GetStream ->
 * PutStream -> ServerWriter). By then its socket is bound and nothing has been sent yet.
 */
export function transferOf(req: GetRequest): Transfer {
  const t = (req as unknown as { _ps?: { _writer?: Transfer } })._ps?._writer;
  if (!t?.[TAP] || !t._socket) {
    throw new BootError('BOOT_TFTP_PATCH', 'a TFTP read request has no corrected transfer behind it (npm tftp internals moved)', {
      remedy: 'reinstall with npm ci; after a tftp upgrade, re-check bootserver/tftp/corrections.ts against it',
    });
  }
  return t;
}
