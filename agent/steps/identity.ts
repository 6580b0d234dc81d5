import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { noArgs, type Step, type StepContext } from '../context.ts';
import { filesystemUuid } from '../disk.ts';
import { hostsWithHostname, renderFstab, renderInterfacesStanza, renderNetworkdUnit, type FstabEntry } from '../identity-files.ts';

// Makes the extracted image this node: fstab by UUID, hostname, network config, and an
// empty machine-id (systemd makes a new one on first boot, so clones differ).

function write(ctx: StepContext, rel: string, text: string): string {
  const path = join(ctx.paths.target, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return rel;
}

function networkFiles(ctx: StepContext): string[] {
  const net = ctx.plan.network;
  const t = (rel: string) => join(ctx.paths.target, rel);
  const written: string[] = [];
  if (existsSync(t('/lib/systemd/systemd-networkd')) || existsSync(t('/usr/lib/systemd/systemd-networkd'))) {
    written.push(write(ctx, '/etc/systemd/network/10-rackcast.network', renderNetworkdUnit(net, ctx.plan.node.mac)));
  }
  if (existsSync(t('/etc/network/interfaces')) && ctx.nic) {
    written.push(write(ctx, '/etc/network/interfaces.d/rackcast', renderInterfacesStanza(net, ctx.nic.name)));
  }
  if (net.dns?.length && !existsSync(t('/lib/systemd/systemd-resolved'))) {
    written.push(write(ctx, '/etc/resolv.conf', net.dns.map((d) => `nameserver ${d}`).join('\n') + '\n'));
  }
  return written;
}

function resetMachineId(ctx: StepContext): string[] {
  const done: string[] = [];
  const etc = join(ctx.paths.target, '/etc/machine-id');
  if (existsSync(etc)) {
    writeFileSync(etc, '');
    done.push('/etc/machine-id');
  }
  // Debian links dbus's copy to /etc/machine-id; a real file would keep the old id.
  const dbus = join(ctx.paths.target, '/var/lib/dbus/machine-id');
  if (existsSync(dbus) && !lstatSync(dbus).isSymbolicLink()) {
    rmSync(dbus);
    done.push('/var/lib/dbus/machine-id');
  }
  return done;
}

export const identity: Step = {
  name: 'identity',
  destructive: true,
  abortable: false,
  prepare: noArgs,
  async run(ctx) {
    const entries: FstabEntry[] = [];
    for (const p of ctx.disk.partitions) {
      if (!p.fs) continue;
      entries.push({ uuid: await filesystemUuid(ctx.exec, p.device, 'identity'), mount: p.mount, fs: p.fs });
    }
    const files = [write(ctx, '/etc/fstab', renderFstab(entries))];
    files.push(write(ctx, '/etc/hostname', `${ctx.plan.node.hostname}\n`));
    const hostsPath = join(ctx.paths.target, '/etc/hosts');
    files.push(write(ctx, '/etc/hosts', hostsWithHostname(existsSync(hostsPath) ? readFileSync(hostsPath, 'utf8') : '', ctx.plan.node.hostname)));
    files.push(...networkFiles(ctx), ...resetMachineId(ctx));
    ctx.log.info('identity written', { files });
    return { detail: { files } };
  },
};
