import type { FsType, InstallPlan } from '../contract/index.ts';

// The text of the files that give an installed image its identity. Pure, so the exact
// output is pinned by unit tests; steps/identity.ts writes them.

export interface FstabEntry {
  uuid: string;
  mount: string | undefined;
  fs: FsType;
}

const FSTAB_OPTIONS: Record<FsType, string> = {
  ext4: 'errors=remount-ro',
  xfs: 'defaults',
  vfat: 'umask=0077',
  swap: 'sw',
};

/** fstab by UUID: the installer's device names (vdb, loop3) mean nothing on the booted box. */
export function renderFstab(entries: FstabEntry[]): string {
  const lines = ['# written by the rackcast installer: filesystems by UUID', '# <file system> <mount point> <type> <options> <dump> <pass>'];
  for (const e of entries) {
    const mount = e.fs === 'swap' ? 'none' : e.mount!;
    const pass = e.fs === 'swap' || e.fs === 'xfs' ? 0 : mount === '/' ? 1 : 2;
    lines.push(`UUID=${e.uuid} ${mount} ${e.fs} ${FSTAB_OPTIONS[e.fs]} 0 ${pass}`);
  }
  return lines.join('\n') + '\n';
}

/** /etc/hosts with the node's name on 127.0.1.1 (Debian's convention), other lines kept. */
export function hostsWithHostname(existing: string, hostname: string): string {
  const kept = existing.split('\n').filter((l) => l !== '' && !/^127\.0\.1\.1\s/.test(l));
  if (!kept.some((l) => /^127\.0\.0\.1\s/.test(l))) kept.unshift('127.0.0.1\tlocalhost');
  const at = kept.findIndex((l) => /^127\.0\.0\.1\s/.test(l)) + 1;
  kept.splice(at, 0, `127.0.1.1\t${hostname}`);
  return kept.join('\n') + '\n';
}

/** systemd-networkd unit matched by MAC, so interface renaming on the booted box does not matter. */
export function renderNetworkdUnit(net: InstallPlan['network'], mac: string): string {
  const lines = ['# written by the rackcast installer', '[Match]', `MACAddress=${mac}`, '', '[Network]'];
  if (net.mode === 'dhcp') lines.push('DHCP=yes');
  else {
    lines.push(`Address=${net.address}`);
    if (net.gateway) lines.push(`Gateway=${net.gateway}`);
  }
  for (const d of net.dns ?? []) lines.push(`DNS=${d}`);
  return lines.join('\n') + '\n';
}

/** An ifupdown stanza; ifupdown has no MAC match, so it names the installer's interface. */
export function renderInterfacesStanza(net: InstallPlan['network'], ifname: string): string {
  const lines = ['# written by the rackcast installer', `auto ${ifname}`];
  if (net.mode === 'dhcp') lines.push(`iface ${ifname} inet dhcp`);
  else {
    lines.push(`iface ${ifname} inet static`, `    address ${net.address}`);
    if (net.gateway) lines.push(`    gateway ${net.gateway}`);
    if (net.dns?.length) lines.push(`    dns-nameservers ${net.dns.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}
