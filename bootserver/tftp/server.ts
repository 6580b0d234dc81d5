import tftp, { type GetRequest, type PutResponse, type Server } from 'tftp';
import type { Logger } from '../../common/log.ts';
import { mmsgLoadError } from '../../udp/index.ts';
import type { BootConfig } from '../config.ts';
import type { Counters } from '../counters.ts';
import { BootError } from '../errors.ts';
import type { ServedFiles } from '../files.ts';
import { applyTftpCorrections } from './corrections.ts';
import { transferOf } from './transfer.ts';
import { TransferCounters } from './transfer-counters.ts';
import { startTransferIo, type TransferIoOptions } from './transfer-io.ts';

// TFTP for the first-stage binaries only (undionly.kpxe, ipxe.efi, ...; kernels and
// initrds go over HTTP). Read-only, from a symlink-safe root, with the block and window
// size caps from the config, on the npm `tftp` package as corrections.ts corrects it; each
// transfer socket on batched I/O (transfer-io.ts) unless the config or the build says no.

export interface TftpDeps {
  cfg: Pick<BootConfig, 'server' | 'tftp'>;
  files: ServedFiles;
  counters: Counters;
  log: Logger;
  /** Port to listen on (69; tests use others). */
  port?: number;
  /** A boot step of a node, for its event log (by client address: TFTP knows no MAC). */
  onTransfer?: (address: string, file: string, ok: boolean) => void;
}

/** EDK2 probes the size with `tsize 0` and then aborts with error 8 before downloading: normal. */
const CLIENT_ABORT = /aborted|denied/i;

export class TftpServer {
  private readonly d: TftpDeps;
  private readonly ioOptions: TransferIoOptions;
  private server: Server | null = null;
  /** Transfers under way, each with its ending (so close() can end them). */
  private readonly active = new Map<GetRequest, () => void>();
  private readonly transfers = new TransferCounters();

  constructor(deps: TftpDeps) {
    this.d = deps;
    this.ioOptions = { batched: deps.cfg.server.batchIo, busyPollUs: deps.cfg.tftp.busyPollUs };
  }

  async listen(): Promise<void> {
    const { cfg } = this.d;
    applyTftpCorrections();
    const server = tftp.createServer(
      {
        host: cfg.server.address,
        port: this.d.port ?? 69,
        root: cfg.tftp.root,
        denyPUT: true,
        blockSize: cfg.tftp.blockSizeMax,
        windowSize: cfg.tftp.windowSizeMax,
        timeout: cfg.tftp.timeoutMs,
        retries: cfg.tftp.retries,
      },
      (req, res) => {
        this.track(req);
        void this.serve(req, res);
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: Error) =>
        reject(new BootError('BOOT_TFTP_LISTEN', `cannot listen for TFTP on ${cfg.server.address}:${this.d.port ?? 69}: ${err.message}`, { cause: err, remedy: 'stop the other TFTP server or set tftp.enabled: false' })),
      );
      server.once('listening', () => resolve());
      server.listen();
    });
    server.on('error', (err: Error) => this.d.log.error('tftp socket error', { error: err.message }));
    const unbatched = this.ioOptions.batched && mmsgLoadError();
    if (unbatched) this.d.log.warn('TFTP transfers fall back to plain dgram (more CPU per block)', { reason: unbatched.message, remedy: unbatched.remedy });
    this.server = server;
  }

  /** Stops listening and ends the transfers under way: the package's close() leaves them resending for up to half a minute. */
  close(): void {
    this.server?.close();
    this.server = null;
    for (const [req, fail] of this.active) {
      fail();
      req.abort('server stopping');
    }
  }

  /**
   * Counters of this server's transfer sockets: drops by reason (wrong TID, runts, duplicate
   * ACKs), transfers by I/O path, and for those on the addon their wake-ups and busy-polls.
   */
  transferCounters(): Record<string, number> {
    return this.transfers.snapshot();
  }

  /**
   * Puts a new transfer on its I/O path and counts it until it ends. The package emits
   * 'request' once the transfer socket is bound and before anything was sent on it, and
   * 'close' on every ending.
   */
  private track(req: GetRequest): void {
    const t = transferOf(req);
    req.once('close', this.transfers.add(t, startTransferIo(t, this.ioOptions)));
  }

  private async serve(req: GetRequest, res: PutResponse): Promise<void> {
    const { counters, log } = this.d;
    const peer = req.stats.remoteAddress;
    const started = Date.now();
    counters.inc('tftp.requests');
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      this.active.delete(req);
      this.d.onTransfer?.(peer, req.file, ok);
    };
    this.active.set(req, () => finish(false));
    req.on('error', (err: Error) => {
      finish(false);
      if (CLIENT_ABORT.test(err.message)) {
        counters.inc('tftp.clientAborted');
        log.debug('client ended the transfer (EDK2 size probe)', { peer, file: req.file, reason: err.message });
      } else {
        counters.inc('tftp.failed');
        log.warn('transfer failed', { peer, file: req.file, error: err.message });
      }
    });
    req.on('abort', () => finish(false));
    // 'close' comes first on every ending; an 'error' or 'abort' follows in the same tick if it failed.
    req.on('close', () =>
      process.nextTick(() => {
        if (done) return;
        counters.inc('tftp.completed');
        log.info('sent', { peer, file: req.file, ms: Date.now() - started, blksize: req.stats.blockSize, window: req.stats.windowSize });
        finish(true);
      }),
    );
    const r = await this.d.files.resolve(req.file);
    if (!r.ok) {
      counters.inc(`tftp.${r.reason}`);
      log.info(r.reason === 'denied' ? 'refused a path outside the root' : 'no such file', { peer, file: req.file });
      return req.abort(r.reason === 'denied' ? tftp.EACCESS : tftp.ENOENT);
    }
    let data: Buffer;
    try {
      data = await this.d.files.read(r.path);
    } catch (err) {
      counters.inc('tftp.failed');
      log.warn('cannot read', { file: r.path, error: (err as Error).message });
      return req.abort(tftp.EIO);
    }
    counters.inc('tftp.bytes', data.length);
    res.setSize(data.length);
    res.end(data);
  }
}
