import { parseCommandLine } from '../common/args.ts';
import { createLogger } from '../common/log.ts';
import { Terminal } from '../common/terminal.ts';
import { help } from './admin/commands.ts';
import { DEFAULT_CONFIG_FILE, loadConfig } from './config.ts';
import { PROXY_PORT, SERVER_PORT } from './dhcp/reply.ts';
import { adoptSocket, reexecWithBoundSockets, takeListenFds, type SocketSpec } from './dhcp/socket.ts';
import { BootError } from './errors.ts';
import { BootServer } from './server.ts';

// `rackcast serve`: the boot server in the foreground until SIGTERM, with its DHCP sockets
// bound to the boot interface (dhcp/socket.ts) before it starts.

const SERVE_HELP = `usage: rackcast serve [--config FILE] [--verbose] [--json]
  --config FILE   rackcast.yaml (default ${DEFAULT_CONFIG_FILE}); see bootserver/rackcast.example.yaml
  --verbose       debug log, including every DHCP packet in hex (field captures -> test fixtures)
  --json          log as JSON lines on stderr
Runs DHCP (full or proxy, on the configured interface only), TFTP and HTTP until SIGTERM.`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values: v } = parseCommandLine(argv, { config: { type: 'string' }, verbose: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (v.help) return help(SERVE_HELP);
  const cfg = loadConfig(v.config ?? DEFAULT_CONFIG_FILE);
  const specs: SocketSpec[] = cfg.dhcp.mode === 'off' ? [] : [{ name: 'dhcp', port: SERVER_PORT }, ...(cfg.dhcp.mode === 'proxy' ? [{ name: 'pxe', port: PROXY_PORT }] : [])];
  const fds = takeListenFds();
  if (specs.length && fds.size === 0) reexecWithBoundSockets(cfg.server.interface, specs);
  const missing = specs.filter((s) => !fds.has(s.name));
  if (missing.length) {
    throw new BootError('BOOT_BIND_DEVICE', `inherited sockets lack ${missing.map((s) => `"${s.name}" (UDP ${s.port})`).join(', ')}`, {
      details: { inherited: [...fds.keys()] },
      remedy: 'name them with FileDescriptorName= in the .socket unit (docs/bootserver.md)',
    });
  }
  const term = new Terminal({ json: Boolean(v.json) });
  const log = createLogger(term.log, 'rackcast', v.verbose ? 'debug' : 'info');
  const dhcpSockets = await Promise.all(specs.map(async (s) => ({ socket: await adoptSocket(fds.get(s.name)!), port: s.port })));
  const server = await BootServer.start({ cfg, log, dhcpSockets });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('stopping');
  await server.stop();
  return 0;
}
