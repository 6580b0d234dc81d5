import type { RemoteInfo, Socket } from 'node:dgram';
import type { Logger } from '../../common/log.ts';
import type { Counters } from '../counters.ts';
import { decodeDhcp, formatDhcp } from './packet.ts';
import type { DhcpResponder } from './reply.ts';
import { DecodeError } from '../errors.ts';

// The socket side of DHCP: every datagram is decoded, answered by the responder (full or
// proxy) and the reply sent from the socket it arrived on (so port 4011 answers from
// 4011). Nothing a client sends can stop the server: malformed datagrams are dropped and
// counted by error code, and a failure inside the responder is logged and counted too.

export interface BoundSocket {
  socket: Socket;
  port: number;
}

export class DhcpListener {
  private readonly sockets: BoundSocket[];
  private readonly responder: DhcpResponder;
  private readonly counters: Counters;
  private readonly log: Logger;

  constructor(sockets: BoundSocket[], responder: DhcpResponder, counters: Counters, log: Logger) {
    this.sockets = sockets;
    this.responder = responder;
    this.counters = counters;
    this.log = log;
    for (const b of sockets) {
      b.socket.on('message', (msg, rinfo) => this.receive(b, msg, rinfo));
      b.socket.on('error', (err) => {
        this.counters.inc('dhcp.socketErrors');
        this.log.error('socket error', { port: b.port, error: err.message });
      });
    }
  }

  private receive(b: BoundSocket, msg: Buffer, rinfo: RemoteInfo): void {
    this.counters.inc('dhcp.rx');
    this.log.debug('rx', { port: b.port, from: `${rinfo.address}:${rinfo.port}`, hex: msg.toString('hex') });
    let out;
    try {
      const packet = decodeDhcp(msg);
      this.log.debug(formatDhcp(packet));
      out = this.responder.handle(packet, { address: rinfo.address, port: rinfo.port, localPort: b.port });
    } catch (err) {
      const code = err instanceof DecodeError ? err.code : 'BOOT_DHCP_INTERNAL';
      this.counters.inc(`dhcp.dropped.${code}`);
      if (err instanceof DecodeError) this.log.debug('dropped malformed datagram', { from: rinfo.address, code, reason: err.message });
      else this.log.error('request handling failed', { from: rinfo.address, error: (err as Error).stack ?? String(err) });
      return;
    }
    if (!out) return;
    b.socket.send(out.data, out.port, out.address, (err) => {
      if (err) {
        this.counters.inc('dhcp.sendErrors');
        this.log.warn('send failed', { to: `${out.address}:${out.port}`, error: err.message });
      }
    });
  }

  close(): void {
    for (const b of this.sockets) b.socket.close();
  }
}
