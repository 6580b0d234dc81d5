import tftpPackage from 'tftp/package.json' with { type: 'json' };
import Request from 'tftp/lib/protocol/request.js';
import IncomingRequest from 'tftp/lib/protocol/server/incoming-request.js';
import ServerWriter from 'tftp/lib/protocol/server/writer.js';
import { BootError } from '../errors.ts';
import { BackoffRetransmitter, type RetransmittedRequest } from './backoff-retransmitter.ts';
import { countDrop, tapTransfer, type Receive, type Transfer } from './transfer.ts';

// Corrections to the npm `tftp` server (gagle/node-tftp 0.1.2), made to its prototypes by
// applyTftpCorrections(), which TftpServer.listen() calls; importing this changes nothing. A
// runtime patch rather than patch-package or a vendored fork: npm 11 runs no install scripts
// unless allow-listed, so a postinstall patch would silently not apply after `npm ci`, and a
// fork would copy the whole package to change a few lines. The version guard refuses any
// other version, so an upgrade cannot drop a fix unnoticed. docs/bootserver.md tells each
// story with its measurements.
//
// 1. ACK handling of the sending window (Window.resume) is replaced. Upstream issue #16
//    (open since 2016): a duplicate ACK resent the window, advanced it anyway and called the
//    pending callback again (or a null one): the transfer stalled or died with "cb is not a
//    function". Worse under loss: after a partial ACK the unconfirmed blocks stayed in the
//    window while its bounds moved on, so ACKs for them were discarded as out of range and
//    the transfer deadlocked; and a partial ACK of the last window ended the transfer with
//    its final blocks unsent. Now an ACK confirms the blocks up to the one it names; the
//    rest are resent with the next window (or at once in the last window) and only the
//    ACK of the last block ends the transfer. A duplicate ACK changes nothing: the
//    retransmission timer resends (RFC 1123 4.2.3.1: resending on a duplicate ACK would
//    double every later block, the Sorcerer's Apprentice of RFC 1350).
// 2. A datagram from another address or port (RFC 1350: wrong transfer ID) reached the
//    transfer as if the client sent it, and one shorter than 2 bytes threw inside the socket
//    handler and killed the process. Both are now dropped and counted on the transfer
//    (transfer.ts), whose server sums the counts.
// 3. Resends (OACK, window) came at a fixed interval; they now back off
//    (backoff-retransmitter.ts).
// 4. DATA packets were built with the deprecated `new Buffer`: zero-filled, and for the
//    process's first 10,000 blocks Node captured a stack trace for each to decide whether to
//    warn. They now come from Buffer.allocUnsafe (pooled; every byte is then written).
// Batched I/O and busy-polling are the server's choice per transfer (transfer-io.ts).

const PATCHED_VERSION = '0.1.2';

/** Set on the package's prototypes once corrected, so that a second call (or a second copy of this module) does not wrap them twice. */
const APPLIED = Symbol.for('rackcast.tftp.corrections');

interface WindowState {
  _windowSize: number;
  _pending: number;
  _rollover: number;
  _eof: boolean;
  _cb: (() => void) | null;
  _blocks: { block: number }[];
  _writerTimer: { reset(): void; start(fn: () => void): void };
  _restransmitterSendFn: () => void;
  _sendFn: (b: { block: number }) => void;
}

type OnAck = (this: Transfer & { _window: WindowState | null }, ack: { block: number }) => void;
type SendBlock = (this: { _send(packet: Buffer): void }, block: number, data: Buffer) => void;
type InitSocket = (this: Transfer, socket: unknown, onMessage: Receive) => void;

const OPCODE_DATA = 3;

/** Corrects the package's prototypes; idempotent. Throws BOOT_TFTP_PATCH on any version but the one checked. */
export function applyTftpCorrections(): void {
  const writer = ServerWriter.prototype;
  if (writer[APPLIED]) return;
  if (tftpPackage.version !== PATCHED_VERSION) {
    throw new BootError('BOOT_TFTP_PATCH', `npm tftp ${tftpPackage.version} is installed; bootserver/tftp/corrections.ts corrects ${PATCHED_VERSION} only`, {
      details: { installed: tftpPackage.version, patched: PATCHED_VERSION },
      remedy: `pin "tftp": "${PATCHED_VERSION}" in package.json, or re-check the fix against the new version and update PATCHED_VERSION`,
    });
  }
  const incoming = IncomingRequest.prototype;
  const initSocket = Request.prototype._initSocket as InitSocket;
  if (typeof writer._onAck !== 'function' || typeof initSocket !== 'function' || typeof incoming._onMessage !== 'function' || typeof Request.prototype._createRetransmitter !== 'function' || typeof Request.prototype._sendBlock !== 'function') {
    throw new BootError('BOOT_TFTP_PATCH', 'npm tftp internals are not where the corrections expect them', { remedy: 'reinstall with npm ci' });
  }

  writer._onAck = function (this: Transfer & { _window: WindowState | null }, ack: { block: number }) {
    const w = this._window;
    // Not waiting for an ACK (the next window is still being filled): nothing to confirm.
    if (!w || !w._cb) return countDrop(this, 'staleAck');
    const at = w._blocks.findIndex((b) => b.block === ack.block);
    if (at < 0) return countDrop(this, w._blocks[0] && ack.block === previousBlock(w._blocks[0].block, w._rollover) ? 'duplicateAck' : 'staleAck');
    w._blocks.splice(0, at + 1);
    w._writerTimer.reset();
    if (w._blocks.length > 0 && w._eof) {
      // The last window, partly confirmed: resend what is missing.
      w._writerTimer.start(w._restransmitterSendFn);
      w._blocks.forEach(w._sendFn);
      return;
    }
    // Unconfirmed blocks go out again together with the next window's new ones.
    w._pending = w._windowSize - w._blocks.length;
    const cb = w._cb;
    w._cb = null;
    cb();
  } satisfies OnAck;

  Request.prototype._sendBlock = function (this: { _send(packet: Buffer): void }, block: number, data: Buffer) {
    const packet = Buffer.allocUnsafe(4 + data.length);
    packet.writeUInt16BE(OPCODE_DATA, 0);
    packet.writeUInt16BE(block, 2);
    data.copy(packet, 4);
    this._send(packet);
  } satisfies SendBlock;

  Request.prototype._createRetransmitter = function (this: RetransmittedRequest) {
    return new BackoffRetransmitter(this);
  };

  incoming._initSocket = function (this: Transfer, socket: unknown, onMessage: Receive) {
    const checked: Receive = (msg, from) => {
      if (from.address !== this._address || from.port !== this._port) return countDrop(this, 'foreignTid');
      // Every packet of a running transfer (ACK, DATA, ERROR) is at least 4 bytes.
      if (msg.length < 4) return countDrop(this, 'short');
      onMessage(msg, from);
    };
    tapTransfer(this, checked);
    initSocket.call(this, socket, checked);
  } satisfies InitSocket;

  writer[APPLIED] = true;
}

/** Block numbers wrap from 65535 to the negotiated rollover value (0 or 1). */
function previousBlock(block: number, rollover: number): number {
  return block === rollover ? 65535 : block - 1;
}
