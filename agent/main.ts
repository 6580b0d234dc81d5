import { existsSync, readFileSync } from 'node:fs';
import { intOption, parseCommandLine } from '../common/args.ts';
import { describeError, RackcastError, UsageError } from '../common/errors.ts';
import { createLogger, formatRecord, type LogRecord } from '../common/log.ts';
import { DEFAULT_LIMITS, runAgent } from './agent.ts';
import { parseAgentConfig } from './cmdline.ts';
import { AgentError } from './errors.ts';
import { createExec } from './exec.ts';
import { INITRD_MARKER } from './initrd-paths.ts';
import { bringUpNic } from './network.ts';
import { ReportClient } from './report-client.ts';
import { runSelfTest } from './self-test.ts';
import { AGENT_VERSION } from './version.ts';

// Entry point of the installer agent (the single executable in the initrd). /init runs
// it and acts on its exit status: reboot, power off, or (with rackcast.debug) a shell.

/** /init acts on these: reboot, power off, power off after a failure (a shell first with rackcast.debug). */
const EXIT_CODES = { reboot: 0, poweroff: 10, failed: 11, error: 1, usage: 2 } as const;

const HELP = `usage: agent [options]          (in the initrd, /init runs it without options)
  --self-test           check this binary and the tools next to it, print JSON, exit 0/1
  --cmdline TEXT        kernel parameters to use instead of /proc/cmdline
  --allow-host          run outside the rackcast initrd (tests on loop devices)
  --target DIR          mount point for the installed system (default /mnt/target)
  --staging DIR         tmpfs directory for the received image (default /tmp/rackcast)
  --max-attempts N      install attempts the server may order (default ${DEFAULT_LIMITS.maxAttempts})
  --next-wait S         seconds to wait for the server's next action (default one day)
  --retry-poll S        while installing, ask the server this often whether it still wants
                        this attempt (default ${DEFAULT_LIMITS.retryPollMs / 1000})
exit status: 0 reboot, 10 power off, 11 power off after a failed install, 1 error, 2 usage`;

async function selfTest(): Promise<number> {
  const r = await runSelfTest({ requireSea: true, checkTools: true });
  process.stdout.write(JSON.stringify({ selfTest: r.ok ? 'ok' : 'failed', version: AGENT_VERSION, checks: r.checks }) + '\n');
  return r.ok ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseCommandLine(argv, {
    'self-test': { type: 'boolean' },
    cmdline: { type: 'string' },
    'allow-host': { type: 'boolean' },
    target: { type: 'string' },
    staging: { type: 'string' },
    'max-attempts': { type: 'string' },
    'next-wait': { type: 'string' },
    'retry-poll': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (v['self-test']) return selfTest();
  const inInitrd = existsSync(INITRD_MARKER);
  if (!inInitrd && !v['allow-host']) {
    throw new AgentError('AGENT_NOT_IN_INITRD', 'this is not the rackcast initrd: refusing to partition disks here', {
      remedy: 'pass --allow-host to run on this machine anyway (tests), with a plan that names a scratch disk',
    });
  }
  const config = parseAgentConfig(v.cmdline ?? readFileSync('/proc/cmdline', 'utf8'));
  const level = config.debug ? 'debug' : 'info';
  let client: ReportClient | null = null;
  const sink = (r: LogRecord) => {
    process.stdout.write(formatRecord(r) + '\n');
    // LogLine carries time and level itself: the text starts at the scope.
    client?.pushLog({ time: new Date(r.time).toISOString(), level: r.level, msg: formatRecord(r).split(' ').slice(2).join(' ') });
  };
  const log = createLogger(sink, 'agent', level);
  client = new ReportClient({ server: config.server, token: config.token, agentVersion: AGENT_VERSION, log: log.child('report') });
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => ac.abort());
  const exec = createExec(log.child('exec'));
  const nextWait = intOption('next-wait', v['next-wait'], 1, 10 * 86400);
  const retryPoll = intOption('retry-poll', v['retry-poll'], 1, 3600);
  const outcome = await runAgent({
    config,
    log,
    client,
    exec,
    paths: { target: v.target ?? '/mnt/target', staging: v.staging ?? '/tmp/rackcast', dev: '/dev', efivars: '/sys/firmware/efi/efivars' },
    signal: ac.signal,
    version: AGENT_VERSION,
    // Outside the initrd (tests) the machine's own NVRAM is never touched.
    efi: inInitrd && existsSync('/sys/firmware/efi/efivars'),
    limits: {
      ...DEFAULT_LIMITS,
      maxAttempts: intOption('max-attempts', v['max-attempts'], 1, 1000) ?? DEFAULT_LIMITS.maxAttempts,
      ...(nextWait === undefined ? {} : { nextWaitMs: nextWait * 1000 }),
      ...(retryPoll === undefined ? {} : { retryPollMs: retryPoll * 1000 }),
    },
    bringUpNic: (mac) => bringUpNic(mac, exec, log.child('net')),
  });
  log.info(`next: ${outcome.action}`);
  await client.drain(10_000);
  client.close();
  if (outcome.action === 'reboot') return EXIT_CODES.reboot;
  return outcome.failed ? EXIT_CODES.failed : EXIT_CODES.poweroff;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`agent: ${describeError(err)}\n`);
    if (err instanceof RackcastError && !(err instanceof UsageError)) process.stderr.write(JSON.stringify({ code: err.code, details: err.details }) + '\n');
    process.exit(err instanceof UsageError ? EXIT_CODES.usage : EXIT_CODES.error);
  },
);
