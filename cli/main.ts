#!/usr/bin/env node
import { nodeCommand, nodesCommand, serveCommand, statusCommand } from '../bootserver/index.ts';
import { receiveCommand, sendCommand } from '../cast/index.ts';
import { describeError, UsageError } from '../common/errors.ts';

// The one rackcast command. Each subcommand lives with its area and returns an exit code.

type Command = { run: (argv: string[]) => Promise<number>; summary: string };

const COMMANDS: Record<string, Command> = {
  send: { run: sendCommand, summary: 'multicast a file or stdin to receivers (udpcast-compatible)' },
  receive: { run: receiveCommand, summary: 'receive a multicast transfer into a file or stdout' },
  serve: { run: serveCommand, summary: 'run the boot server (DHCP, TFTP, HTTP/iPXE, node API)' },
  nodes: { run: nodesCommand, summary: 'list the nodes the boot server knows and their phase' },
  status: { run: statusCommand, summary: 'image sessions and install progress of every node (--watch: live)' },
  node: { run: nodeCommand, summary: 'show, reinstall or localboot nodes (MAC, host name, n[001-288])' },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: rackcast <command> [options]   (rackcast <command> --help for its options)\n\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`rackcast: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    process.stderr.write(`rackcast ${name}: ${describeError(err)}\n`);
    return err instanceof UsageError ? 2 : 3;
  }
}

process.exitCode = await main(process.argv.slice(2));
