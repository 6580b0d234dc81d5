import type { RemoteInfo } from 'node:dgram';
import tftpPackage from 'tftp/package.json' with { type: 'json' };
import Request from 'tftp/lib/protocol/request.js';
import IncomingRequest from 'tftp/lib/protocol/server/incoming-request.js';
import ServerWriter from 'tftp/lib/protocol/server/writer.js';
import { BootError } from './errors.ts';

// Runtime corrections to the npm `tftp` server (gagle/node-tftp 0.1.2), applied when this
// module is imported. A patch module rather than patch-package or a vendored fork: npm 11
// runs no install scripts unless allow-listed, so a postinstall patch would silently not
// apply after `npm ci`, and a fork would copy 2,500 lines to change 15. The version guard
// refuses any other version, so an upgrade cannot drop the fix unnoticed.
//
// 1. Duplicate ACK (upstream issue #16, open since 2016): Window.resume treats an ACK of the
//    previous window's last block as "resend the window", then advances the window anyway
//    and calls the pending callback again (or a null one): the transfer stalls or dies with
//    "cb is not a function". Any client that retransmits an ACK (iPXE under load, pxelinux,
//    OVMF) triggers it. Fixed: such an ACK, and any ACK while the next window is still being
//    filled, is ignored; a really lost block is resent by the retransmission timer. RFC 1123
//    4.2.3.1 asks exactly that (never resend on a duplicate ACK): resending would let one
//    early retransmission double every later block (the Sorcerer's Apprentice of RFC 1350).
// 2. A datagram from another address or port (RFC 1350: wrong transfer ID) reached the
//    transfer as if the client sent it, and one shorter than 2 bytes threw inside the socket
//    handler and killed the process. Both are now dropped and counted.

export const PATCHED_VERSION = '0.1.2';

const drops = new Map<string, number>();

/** Datagrams the transfer sockets dropped since start, by reason (one TFTP server per process). */
export function tftpTransferDrops(): Record<string, number> {
  return Object.fromEntries(drops);
}

interface WindowState {
  _start: number;
  _cb: (() => void) | null;
}

type OnAck = (this: { _window: WindowState | null }, ack: { block: number }) => void;
type InitSocket = (this: { _address: string; _port: number }, socket: unknown, onMessage: (msg: Buffer, rinfo: RemoteInfo) => void) => void;

function apply(): void {
  if (tftpPackage.version !== PATCHED_VERSION) {
    throw new BootError('BOOT_TFTP_PATCH', `npm tftp ${tftpPackage.version} is installed; bootserver/tftp-patch.ts corrects ${PATCHED_VERSION} only`, {
      details: { installed: tftpPackage.version, patched: PATCHED_VERSION },
      remedy: `pin "tftp": "${PATCHED_VERSION}" in package.json, or re-check the fix against the new version and update PATCHED_VERSION`,
    });
  }
  const writer = ServerWriter.prototype;
  const incoming = IncomingRequest.prototype;
  const onAck = writer._onAck as OnAck;
  const initSocket = Request.prototype._initSocket as InitSocket;
  if (typeof onAck !== 'function' || typeof initSocket !== 'function' || typeof incoming._onMessage !== 'function') {
    throw new BootError('BOOT_TFTP_PATCH', 'npm tftp internals are not where the patch expects them', { remedy: 'reinstall with npm ci' });
  }

  writer._onAck = function (this: { _window: WindowState | null }, ack: { block: number }) {
    const w = this._window;
    // Not waiting for an ACK (the next window is still being filled): a stale one.
    if (!w || !w._cb) return count('staleAck');
    const previous = w._start === 0 ? 65535 : w._start - 1;
    if (ack.block === previous) return count('duplicateAck');
    onAck.call(this, ack);
  } satisfies OnAck;

  incoming._initSocket = function (this: { _address: string; _port: number }, socket: unknown, onMessage: (msg: Buffer, rinfo: RemoteInfo) => void) {
    initSocket.call(this, socket, (msg, rinfo) => {
      if (rinfo.address !== this._address || rinfo.port !== this._port) return count('foreignTid');
      // Every packet of a running transfer (ACK, DATA, ERROR) is at least 4 bytes.
      if (msg.length < 4) return count('short');
      onMessage(msg, rinfo);
    });
  } satisfies InitSocket;
}

function count(reason: string): void {
  drops.set(reason, (drops.get(reason) ?? 0) + 1);
}

apply();
