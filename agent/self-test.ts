import dgram from 'node:dgram';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSea } from 'node:sea';
import zlib from 'node:zlib';
import { mmsgSelfCheck } from '../udp/index.ts';
import { BUSYBOX_TOOLS, HOST_TOOLS } from './tools.ts';

// `agent --self-test`: proves a built binary has what an install needs, for CI smoke
// tests (x64 natively, arm64 under qemu-user) and a QEMU boot of the initrd.

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function onPath(tool: string, path: string): string | undefined {
  for (const dir of path.split(':').filter(Boolean)) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return join(dir, tool);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function zstdRoundTrip(): Check {
  const input = Buffer.alloc(1 << 20, 'rackcast ');
  const packed = zlib.zstdCompressSync(input);
  const ok = zlib.zstdDecompressSync(packed).equals(input);
  return { name: 'zstd', ok, detail: `1 MiB → ${packed.length} bytes and back` };
}

/** Joins a multicast group and sends itself a datagram over loopback. */
async function dgramCheck(): Promise<Check> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '0.0.0.0', () => resolve());
    });
    sock.setBroadcast(true);
    // On loopback: the check must not depend on a configured NIC or a multicast route.
    sock.addMembership('239.255.77.1', '127.0.0.1');
    sock.setRecvBufferSize(1 << 20);
    const echoed = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 2000);
      sock.once('message', (m) => {
        clearTimeout(t);
        resolve(m.toString() === 'ping');
      });
    });
    sock.send('ping', sock.address().port, '127.0.0.1');
    return { name: 'dgram', ok: await echoed, detail: 'multicast membership, buffer size, loopback datagram' };
  } catch (err) {
    return { name: 'dgram', ok: false, detail: (err as Error).message };
  } finally {
    sock.close();
  }
}

export async function runSelfTest(opts: { requireSea: boolean; checkTools: boolean; path?: string }): Promise<{ ok: boolean; checks: Check[] }> {
  const sea = isSea();
  const checks: Check[] = [
    { name: 'node', ok: Number(process.versions.node.split('.')[0]) >= 24, detail: `${process.version} ${process.arch}` },
    { name: 'sea', ok: sea || !opts.requireSea, detail: sea ? 'single executable' : 'running from source' },
    zstdRoundTrip(),
    await dgramCheck(),
    { name: 'mmsg', ...(await mmsgSelfCheck()) },
    { name: 'fetch', ok: typeof fetch === 'function', detail: 'global fetch' },
  ];
  if (opts.checkTools) {
    const path = opts.path ?? process.env.PATH ?? '';
    for (const tool of [...HOST_TOOLS, ...BUSYBOX_TOOLS]) {
      const at = onPath(tool, path);
      checks.push({ name: `tool:${tool}`, ok: at !== undefined, detail: at ?? 'missing' });
    }
    let rmem = 'unknown';
    try {
      rmem = readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim();
    } catch {
      // not Linux /proc
    }
    checks.push({ name: 'rmem_max', ok: true, detail: `${rmem} bytes (the cast receiver asks for 8 MiB)` });
  }
  return { ok: checks.every((c) => c.ok), checks };
}
