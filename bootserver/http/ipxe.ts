import type { BootConfig } from '../config.ts';
import { bootif } from '../mac.ts';
import type { BootDecision } from '../policy.ts';

/** What a script says: the policy's decision, and for the installer the token it carries. */
export type ScriptSpec = Exclude<BootDecision, { action: 'install' }> | (Extract<BootDecision, { action: 'install' }> & { token: string });

// iPXE scripts, rendered per request from the node's current decision. The installer gets
// the rackcast.* kernel parameters of docs/agent-api.md; a node that is done boots its own
// disk by the method configured for it (BIOS and UEFI firmware differ in what works, so
// `auto` picks per platform at run time).

export const INITRD_NAME = 'initrd.img';

export function renderScript(mac: string, d: ScriptSpec, cfg: Pick<BootConfig, 'server' | 'installer'>): string {
  const base = cfg.server.publicUrl;
  const lines = ['#!ipxe'];
  switch (d.action) {
    case 'install': {
      const params = [
        // The EFI stub finds the initrd by this name (iPXE's `initrd --name`).
        `initrd=${INITRD_NAME}`,
        cfg.installer.cmdline,
        `rackcast.server=${base}`,
        `rackcast.token=${d.token}`,
        `rackcast.mode=${d.mode}`,
        `BOOTIF=${bootif(mac)}`,
        ...(cfg.installer.debug ? ['rackcast.debug=1'] : []),
      ].filter(Boolean);
      lines.push(
        `echo rackcast: ${d.mode} ${d.hostname ?? mac}`,
        `kernel ${base}/installer/vmlinuz ${params.join(' ')} || goto retry`,
        `initrd --name ${INITRD_NAME} ${base}/installer/${INITRD_NAME} || goto retry`,
        'boot || goto retry',
        ':retry',
        'echo rackcast: could not load the installer; retrying in 10 s',
        'sleep 10',
        `chain --autofree ${base}/boot/${mac.replace(/:/g, '-')}.ipxe`,
      );
      break;
    }
    case 'localboot':
      lines.push(`echo rackcast: local boot (${d.reason}, ${d.method})`);
      if (d.method === 'auto') lines.push('iseq ${platform} efi && goto exit ||');
      // sanboot the first BIOS disk; without one (or on failure) hand back to the firmware.
      if (d.method !== 'exit') lines.push('sanboot --no-describe --drive 0x80 || goto exit');
      lines.push(':exit', 'exit 1');
      break;
    case 'none':
      lines.push(`echo rackcast: not booting this machine: ${d.reason}`, 'exit 1');
      break;
  }
  return lines.join('\n') + '\n';
}

/** For clients that got their DHCP answer elsewhere: look up the per-MAC script. */
export function renderChainScript(cfg: Pick<BootConfig, 'server'>): string {
  return `#!ipxe\nchain ${cfg.server.publicUrl}/boot/\${net0/mac:hexhyp}.ipxe\n`;
}
