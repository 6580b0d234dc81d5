import dgram from 'node:dgram';
import { once } from 'node:events';
import { MMSG_ABSENT, mmsgAddon, unbatchedReason } from './addon.ts';
import { BatchReader } from './batch-reader.ts';
import { BatchWriter } from './batch-writer.ts';

/** Three datagrams from a BatchWriter to a BatchReader over loopback: the addon loads and works here. */
export async function mmsgSelfCheck(): Promise<{ ok: boolean; detail: string }> {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  let reader: BatchReader | null = null;
  try {
    if (!mmsgAddon()) {
      const error = unbatchedReason(false);
      return error ? { ok: false, detail: error } : { ok: true, detail: `${MMSG_ABSENT}: sockets send and receive through plain dgram` };
    }
    rx.bind(0, '127.0.0.1');
    await once(rx, 'listening');
    tx.connect(rx.address().port, '127.0.0.1');
    await once(tx, 'connect');
    const got: string[] = [];
    let arrived!: () => void;
    let failed!: (err: Error) => void;
    const done = new Promise<void>((resolve, reject) => ((arrived = resolve), (failed = reject)));
    reader = BatchReader.start(rx, {
      datagram: (buf) => {
        got.push(buf.toString());
        if (got.length === 3) arrived();
      },
      truncated: () => failed(new Error('a datagram came back truncated')),
      error: failed,
    });
    const writer = BatchWriter.open(tx, 0, { pending: () => 0, send: () => {}, error: (err) => { throw err; } });
    if (!reader || !writer) return { ok: false, detail: unbatchedReason(false)! };
    const timer = setTimeout(() => failed(new Error(`${got.length} of 3 datagrams arrived within 2 s`)), 2000);
    for (const word of ['one', 'two', 'three']) writer.push(Buffer.from(word));
    writer.flush();
    await done.finally(() => clearTimeout(timer));
    const ok = got.join(' ') === 'one two three';
    return { ok, detail: ok ? 'sendmmsg/recvmmsg round trip over loopback' : `round trip garbled: ${got.join(' ')}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    reader?.stop();
    rx.close();
    tx.close();
  }
}
