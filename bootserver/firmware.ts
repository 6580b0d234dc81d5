import type { BootConfig } from './config.ts';
import type { DhcpPacket } from './dhcp/packet.ts';
import { requestName } from './files.ts';

// Which network-boot client sent a DHCP packet, and which first stage it gets. iPXE asks
// for the per-node script (never iPXE again: that is the chainload loop); PXE firmware
// gets an iPXE binary over TFTP; UEFI HTTP boot clients get an iPXE binary as a URL.

/** DHCP option 93 values (RFC 4578 + IANA registry; 7 and 9 are both x86-64 UEFI after the 2016 erratum). */
export const ClientArch = {
  BIOS: 0,
  UEFI_IA32: 6,
  UEFI_X64: 7,
  UEFI_X64_BC: 9,
  UEFI_ARM32: 10,
  UEFI_ARM64: 11,
  UEFI_X86_HTTP: 15,
  UEFI_X64_HTTP: 16,
  UEFI_ARM64_HTTP: 19,
} as const;

export type ClientKind = 'ipxe' | 'pxe' | 'http' | 'plain';

export interface BootClient {
  mac: string;
  kind: ClientKind;
  /** Option 93 (first value), if sent. */
  arch: number | null;
  /** Option 97 (client UUID), echoed by proxyDHCP. */
  uuid?: number[];
}

/** Reads the client's identity from a request; `plain` = an OS DHCP client (udhcpc, dhclient). */
export function identifyClient(p: DhcpPacket): BootClient {
  const o = p.options;
  const vc = o.vendorClass ?? '';
  // iPXE sends user class "iPXE" (some builds RFC 3004-framed) and option 175.
  const ipxe = (o.userClass?.includes('iPXE') ?? false) || o.ipxe !== undefined;
  const kind: ClientKind = ipxe ? 'ipxe' : vc.startsWith('HTTPClient') ? 'http' : vc.startsWith('PXEClient') ? 'pxe' : 'plain';
  return { mac: p.chaddr, kind, arch: o.clientArch?.[0] ?? null, ...(o.clientUuid ? { uuid: o.clientUuid } : {}) };
}

export interface FirstStage {
  /** What goes into option 67 and the BOOTP file field. */
  bootFile: string;
  /** Option 60 to send back: PXEClient to iPXE (so it skips its proxyDHCP wait), HTTPClient to HTTP boot. */
  vendorClass?: 'PXEClient' | 'HTTPClient';
  /** Loaded over TFTP from us (next-server = our address). */
  tftp: boolean;
}

export type FirstStageResult = { ok: true; stage: FirstStage } | { ok: false; reason: string };

/** The boot answer for a netbooting client, or why it gets none (unsupported architecture). */
export function firstStageFor(client: BootClient, cfg: Pick<BootConfig, 'firstStage' | 'server'>): FirstStageResult {
  const base = cfg.server.publicUrl;
  const fs = cfg.firstStage;
  if (client.kind === 'ipxe') {
    const mac = client.mac.replace(/:/g, '-');
    return { ok: true, stage: { bootFile: `${base}/boot/${mac}.ipxe`, vendorClass: 'PXEClient', tftp: false } };
  }
  const arch = client.arch ?? ClientArch.BIOS;
  if (client.kind === 'http') {
    const file = arch === ClientArch.UEFI_X64_HTTP ? fs.uefiX64 : arch === ClientArch.UEFI_ARM64_HTTP ? fs.uefiArm64 : undefined;
    if (!file) return { ok: false, reason: `no first stage for HTTP boot architecture ${arch}` };
    return { ok: true, stage: { bootFile: `${base}/firmware/${requestName(file)}`, vendorClass: 'HTTPClient', tftp: false } };
  }
  if (client.kind === 'pxe') {
    const file =
      arch === ClientArch.BIOS ? fs.bios : arch === ClientArch.UEFI_X64 || arch === ClientArch.UEFI_X64_BC ? fs.uefiX64 : arch === ClientArch.UEFI_ARM64 ? fs.uefiArm64 : undefined;
    if (!file) return { ok: false, reason: `no first stage for PXE architecture ${arch}` };
    return { ok: true, stage: { bootFile: requestName(file), tftp: true } };
  }
  return { ok: false, reason: 'not a network boot client' };
}
