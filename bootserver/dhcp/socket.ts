import { createSocket, type Socket } from 'node:dgram';
import { BootError } from '../errors.ts';

// DHCP sockets tied to one interface. DHCP requests are broadcasts, so the socket must be
// bound to 0.0.0.0:67, and such a socket hears every interface; Node's dgram has neither
// SO_BINDTODEVICE nor IP_PKTINFO to tell them apart. The kernel can filter for us if the
// socket carries SO_BINDTODEVICE: it then receives only what arrives on that device, and
// its broadcasts leave through it whatever the routing table says.
//
// Node can adopt such a socket by file descriptor (dgram bind({ fd })), as handed over by
// systemd socket activation (a .socket unit with BindToDevice=, see docs/bootserver.md).
// Without systemd, `rackcast serve` makes them itself: it re-executes through a few lines
// of Perl (perl-base is Essential on Debian) that create the sockets with setsockopt(2)
// and exec Node again with them in the sd_listen_fds(3) layout. The PID stays the same.

const SD_LISTEN_FDS_START = 3;
const SO_BINDTODEVICE = 25;

export interface SocketSpec {
  /** Name in LISTEN_FDNAMES: "dhcp" (port 67) or "pxe" (port 4011). */
  name: string;
  port: number;
}

/** The sockets passed in by systemd or the launcher, by name; empty when none were. Clears the variables (children must not see them). */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Map<string, number> {
  const out = new Map<string, number>();
  const count = Number(env.LISTEN_FDS);
  if (env.LISTEN_PID !== String(pid) || !Number.isInteger(count) || count < 1) return out;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  for (let i = 0; i < count; i++) out.set(names[i] || `fd${i}`, SD_LISTEN_FDS_START + i);
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  return out;
}

// argv: device, "name:port,...", command... ; makes the sockets, moves them to 3, 4, ...
// (dup2 clears close-on-exec), exports LISTEN_* and execs the command.
const LAUNCHER = `
use strict; use Socket; use POSIX ();
my ($dev, $spec, @cmd) = @ARGV;
my (@socks, @names);
for my $item (split /,/, $spec) {
  my ($name, $port) = split /:/, $item;
  socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "rackcast: socket: $!\\n";
  setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or die "rackcast: SO_REUSEADDR: $!\\n";
  setsockopt($s, SOL_SOCKET, SO_BROADCAST, 1) or die "rackcast: SO_BROADCAST: $!\\n";
  setsockopt($s, SOL_SOCKET, ${SO_BINDTODEVICE}, pack("Z*", $dev)) or die "rackcast: cannot bind to device $dev: $!\\n";
  bind($s, pack_sockaddr_in($port, INADDR_ANY)) or die "rackcast: cannot bind UDP port $port on $dev: $!\\n";
  push @socks, $s; push @names, $name;
}
my @tmp = map { POSIX::dup(fileno($_)) } @socks;
for my $i (0 .. $#tmp) {
  die "rackcast: descriptor layout\\n" if $tmp[$i] < ${SD_LISTEN_FDS_START} + @tmp;
  POSIX::dup2($tmp[$i], ${SD_LISTEN_FDS_START} + $i) // die "rackcast: dup2: $!\\n";
  POSIX::close($tmp[$i]);
}
$ENV{LISTEN_FDS} = scalar @socks; $ENV{LISTEN_PID} = $$; $ENV{LISTEN_FDNAMES} = join(":", @names);
exec { $cmd[0] } @cmd or die "rackcast: exec $cmd[0]: $!\\n";
`;

/** Replaces this process with itself holding device-bound sockets (never returns on success). */
export function reexecWithBoundSockets(device: string, specs: SocketSpec[], perl = '/usr/bin/perl'): never {
  const argv = [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  try {
    if (!process.execve) throw new Error('this Node has no process.execve (needs Node >= 23.11)');
    process.execve(perl, ['perl', '-e', LAUNCHER, device, specs.map((s) => `${s.name}:${s.port}`).join(','), ...argv], process.env);
  } catch (err) {
    throw new BootError('BOOT_BIND_DEVICE', `cannot start ${perl} to bind DHCP sockets to ${device}: ${(err as Error).message}`, {
      cause: err,
      details: { device, perl },
      remedy: 'install perl-base, or start rackcast from a systemd .socket unit with BindToDevice= (docs/bootserver.md)',
    });
  }
  throw new Error('unreachable: execve returned');
}

/** Adopts an inherited, already bound UDP socket. */
export async function adoptSocket(fd: number): Promise<Socket> {
  const s = createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind({ fd }, () => {
      s.off('error', reject);
      resolve();
    });
  });
  s.setBroadcast(true);
  return s;
}
