// Sends random datagrams, biased towards real udpcast opcodes and sizes, from a given
// local port to the given targets for a given time. Run inside a lab namespace:
//   node udp-fuzzer.ts <localPort> <ms> <host:port> [<host:port> ...]
import dgram from 'node:dgram';

const [portArg, msArg, ...targets] = process.argv.slice(2);
const OPS = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 0x500];
const SIZES = [0, 1, 3, 4, 8, 12, 28, 32, 100, 140, 144, 1472, 2000];
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
sock.bind(Number(portArg), () => {
  sock.setBroadcast(true);
  let sent = 0;
  const end = Date.now() + Number(msArg);
  const tick = () => {
    if (Date.now() >= end) {
      process.stdout.write(`sent ${sent}\n`);
      sock.close();
      return;
    }
    for (let i = 0; i < 20; i++) {
      const buf = Buffer.alloc(SIZES[Math.floor(Math.random() * SIZES.length)]!);
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(Math.random() * 256);
      if (buf.length >= 2) buf.writeUInt16BE(OPS[Math.floor(Math.random() * OPS.length)]!, 0);
      const [host, port] = targets[sent % targets.length]!.split(':');
      sock.send(buf, Number(port), host);
      sent++;
    }
    setTimeout(tick, 2);
  };
  tick();
});
