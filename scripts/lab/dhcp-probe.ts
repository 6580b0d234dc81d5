// Sends DHCP datagrams (given as hex, e.g. a captured DISCOVER with a new MAC, or junk)
// and prints every reply that arrives within the wait, decoded, as JSON lines. Run inside
// a lab namespace:
//   node scripts/lab/dhcp-probe.ts --to 255.255.255.255:67 --hex <hex> [--hex ...]
//        [--from-port 68] [--wait-ms 3000] [--repeat 1]
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { decodeDhcp, formatDhcp } from '../../bootserver/index.ts';

const { values: v } = parseArgs({
  options: {
    to: { type: 'string', default: '255.255.255.255:67' },
    hex: { type: 'string', multiple: true, default: [] },
    'from-port': { type: 'string', default: '68' },
    'wait-ms': { type: 'string', default: '3000' },
    repeat: { type: 'string', default: '1' },
  },
});
const [host, port] = v.to.split(':');
const sock = createSocket({ type: 'udp4', reuseAddr: true });
sock.on('message', (msg, rinfo) => {
  let line: Record<string, unknown>;
  try {
    const p = decodeDhcp(msg);
    line = { from: `${rinfo.address}:${rinfo.port}`, bytes: msg.length, text: formatDhcp(p), packet: p };
  } catch (err) {
    line = { from: `${rinfo.address}:${rinfo.port}`, bytes: msg.length, error: (err as Error).message };
  }
  process.stdout.write(JSON.stringify(line) + '\n');
});
sock.bind(Number(v['from-port']), () => {
  sock.setBroadcast(true);
  for (let i = 0; i < Number(v.repeat); i++) for (const h of v.hex) sock.send(Buffer.from(h, 'hex'), Number(port), host);
  setTimeout(() => sock.close(), Number(v['wait-ms']));
});
