import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/log.ts';
import { API_PREFIX, type Api } from './api.ts';
import type { BootConfig } from '../config.ts';
import type { Counters } from '../counters.ts';
import { BootError } from '../errors.ts';
import type { ServedFiles } from '../files.ts';
import { INITRD_NAME, renderChainScript, renderScript } from './ipxe.ts';
import { normalizeMac } from '../mac.ts';
import type { BootPolicy } from '../policy.ts';

// HTTP for everything after the first stage: the per-node iPXE script (decided from state
// on every fetch), the installer kernel and initrd (streamed, keep-alive), first stages
// for UEFI HTTP boot, and the JSON API. Malformed requests get a 400 and are counted;
// Node's parser rejects garbage before we see it (counted as clientError).
//
//   GET /boot/<mac>.ipxe        per-node script        GET /installer/vmlinuz, /installer/initrd.img
//   GET /boot.ipxe              chains to the above    GET /firmware/<first stage>
//   /api/v1/...                 see api.ts

export interface HttpDeps {
  cfg: Pick<BootConfig, 'server' | 'installer'>;
  files: ServedFiles;
  policy: BootPolicy;
  api: Api;
  counters: Counters;
  log: Logger;
  /** A node fetched its script (for last-seen and the event log). */
  onScript?: (mac: string, decision: string, address: string) => void;
  /** A new agent token for an installer script the node at `address` fetched. */
  issueToken: (mac: string, address: string) => string;
}

export class HttpServer {
  private readonly d: HttpDeps;
  private readonly server: Server;

  constructor(deps: HttpDeps) {
    this.d = deps;
    // keepAliveTimeout above iPXE's gap between the kernel and the initrd request under TCG.
    this.server = createServer({ keepAliveTimeout: 30_000, requestTimeout: 120_000 }, (req, res) => void this.route(req, res));
    this.server.on('clientError', (err, socket) => {
      this.d.counters.inc('http.dropped.BOOT_DECODE_HTTP_PARSE');
      this.d.log.debug('malformed HTTP request', { error: err.message });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  async listen(port = this.d.cfg.server.httpPort, host = this.d.cfg.server.httpBind): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) =>
        reject(new BootError('BOOT_HTTP_LISTEN', `cannot listen for HTTP on ${host}:${port}: ${err.message}`, { cause: err, remedy: 'set server.httpPort / server.httpBind to a free address' }));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { counters } = this.d;
    counters.inc('http.requests');
    let raw: string;
    let path: string;
    try {
      raw = new URL(req.url ?? '/', 'http://x').pathname;
      path = decodeURIComponent(raw);
    } catch {
      counters.inc('http.dropped.BOOT_DECODE_HTTP_URL');
      return text(res, 400, 'bad URL\n');
    }
    try {
      // The API decodes its path parameters itself, once.
      if (raw.startsWith(API_PREFIX + '/') || raw === API_PREFIX) return await this.d.api.handle(req, res, raw);
      if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'method not allowed\n');
      const script = /^\/boot\/([^/]+)\.ipxe$/.exec(path);
      if (script) return this.script(req, res, script[1]!);
      if (path === '/boot.ipxe') return text(res, 200, renderChainScript(this.d.cfg));
      if (path === '/installer/vmlinuz') return await this.file(req, res, this.d.cfg.installer.kernel);
      if (path === `/installer/${INITRD_NAME}`) return await this.file(req, res, this.d.cfg.installer.initrd);
      if (path.startsWith('/firmware/')) return await this.firmware(req, res, path.slice('/firmware/'.length));
      counters.inc('http.notFound');
      text(res, 404, 'not found\n');
    } catch (err) {
      counters.inc('http.errors');
      this.d.log.error('request failed', { url: req.url, error: (err as Error).message });
      if (!res.headersSent) text(res, 500, 'internal error\n');
      else res.destroy();
    }
  }

  private script(req: IncomingMessage, res: ServerResponse, macText: string): void {
    const mac = normalizeMac(macText);
    if (!mac) {
      this.d.counters.inc('http.dropped.BOOT_DECODE_HTTP_MAC');
      return text(res, 400, 'not a MAC address\n');
    }
    const decision = this.d.policy.decide({ mac, arch: null });
    const address = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.d.counters.inc(`http.script.${decision.action}`);
    this.d.onScript?.(mac, decision.action, address);
    const spec = decision.action === 'install' ? { ...decision, token: this.d.issueToken(mac, address) } : decision;
    text(res, 200, renderScript(mac, spec, this.d.cfg));
  }

  private async firmware(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const r = await this.d.files.resolve(name);
    if (!r.ok) {
      this.d.counters.inc(`http.firmware.${r.reason}`);
      return text(res, r.reason === 'denied' ? 403 : 404, `${r.reason}\n`);
    }
    const data = await this.d.files.read(r.path);
    res.writeHead(200, { 'content-type': 'application/efi', 'content-length': data.length });
    res.end(req.method === 'HEAD' ? undefined : data);
  }

  /** Streams a big file (kernel, initrd) with its length so iPXE can keep the connection. */
  private async file(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      this.d.counters.inc('http.notFound');
      this.d.log.warn('installer file missing', { path });
      return text(res, 404, 'not found\n');
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    if (req.method === 'HEAD') return void res.end();
    const started = Date.now();
    const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
    stream.on('error', (err) => {
      this.d.log.warn('read failed', { path, error: err.message });
      res.destroy();
    });
    res.on('finish', () => {
      this.d.counters.inc('http.bytes', size);
      this.d.log.debug('sent', { path, bytes: size, ms: Date.now() - started, peer: req.socket.remoteAddress });
    });
    stream.pipe(res);
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  const data = Buffer.from(body);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': data.length, 'cache-control': 'no-store' });
  res.end(data);
}
