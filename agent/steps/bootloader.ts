import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { InstallFacts, Step, StepContext } from '../context.ts';
import { bindApiFilesystems, execInTarget } from '../chroot.ts';
import { filesystemUuid } from '../disk.ts';
import { AgentError, checkResult } from '../errors.ts';
import { PlanError, type InstallPlan } from '../../contract/index.ts';

// GRUB runs from the image's own chroot (its version matches its grub.cfg scripts), for
// BIOS when the layout has a bios-boot partition and for UEFI when it has an ESP: the
// removable path always (firmware finds it without NVRAM), plus an NVRAM entry when
// the node booted with UEFI. extlinux comes from the initrd, for images without GRUB.
// `none`: the image brings its own boot arrangement.

const GRUB_REMEDY = 'the image must contain GRUB for this platform (grub-pc-bin / grub-efi-*-bin); see the step output';
const GPTMBR = '/usr/lib/EXTLINUX/gptmbr.bin';
/** The MBR boot code area; the partition table that follows must stay. */
const MBR_CODE_BYTES = 440;

interface GrubArgs {
  bios: boolean;
  efiTarget: string | null;
}

const EFI_TARGETS: Record<string, string> = { x64: 'x86_64-efi', arm64: 'arm64-efi' };

function grubArgs(plan: InstallPlan, facts: InstallFacts): GrubArgs {
  const roles = new Set(plan.disk.layout.map((p) => p.role));
  const bios = roles.has('bios-boot');
  if (bios && facts.arch !== 'x64') throw new PlanError('disk.layout', 'bios-boot', `no bios-boot partition on ${facts.arch} (BIOS boot is x86 only)`);
  const efiTarget = roles.has('esp') ? (EFI_TARGETS[facts.arch] ?? null) : null;
  if (!bios && !efiTarget) throw new PlanError('disk.layout', [...roles], 'a bios-boot or an esp partition for GRUB');
  return { bios, efiTarget };
}

/** What udev would have made: grub-mkconfig writes root=UUID=… only if the link exists. */
async function linkByUuid(ctx: StepContext): Promise<void> {
  const dir = join(ctx.paths.dev, 'disk/by-uuid');
  mkdirSync(dir, { recursive: true });
  for (const p of ctx.disk.partitions.filter((x) => x.fs)) {
    const link = join(dir, await filesystemUuid(ctx.exec, p.device, 'bootloader'));
    if (existsSync(link)) continue;
    symlinkSync(`../../${basename(p.device)}`, link);
    ctx.state.createdLinks.push(link);
  }
}

function hasTool(ctx: StepContext, name: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(join(ctx.paths.target, d, name)));
}

async function grub(ctx: StepContext, args: GrubArgs): Promise<Record<string, unknown>> {
  if (!hasTool(ctx, 'grub-install') || !hasTool(ctx, 'grub-mkconfig')) {
    throw new AgentError('AGENT_BOOTLOADER_MISSING', `image ${ctx.plan.image.name} has no grub-install/grub-mkconfig`, {
      step: 'bootloader',
      remedy: 'install GRUB in the image, or set bootloader to extlinux or none in the plan',
    });
  }
  await bindApiFilesystems(ctx, 'bootloader');
  await linkByUuid(ctx);
  const run = async (argv: string[]) => checkResult(await execInTarget(ctx, argv), 'AGENT_BOOTLOADER_FAILED', 'bootloader', GRUB_REMEDY);
  const targets: string[] = [];
  if (args.bios) {
    await run(['grub-install', '--target=i386-pc', ctx.disk.device]);
    targets.push('i386-pc');
  }
  let nvram = false;
  if (args.efiTarget) {
    const esp = ctx.disk.partitions.find((p) => p.role === 'esp')!.mount!;
    await run(['grub-install', `--target=${args.efiTarget}`, `--efi-directory=${esp}`, '--removable', '--no-nvram']);
    targets.push(`${args.efiTarget} (removable)`);
    if (ctx.efi) {
      if (hasTool(ctx, 'efibootmgr')) {
        await run(['grub-install', `--target=${args.efiTarget}`, `--efi-directory=${esp}`, '--bootloader-id=rackcast']);
        nvram = true;
      } else ctx.log.warn('no efibootmgr in the image: no NVRAM boot entry (the removable path still boots)');
    }
  }
  await run(['grub-mkconfig', '-o', '/boot/grub/grub.cfg']);
  return { bootloader: 'grub', targets, nvram };
}

async function extlinux(ctx: StepContext): Promise<Record<string, unknown>> {
  const fail = (r: Parameters<typeof checkResult>[0]) => checkResult(r, 'AGENT_BOOTLOADER_FAILED', 'bootloader', 'the /boot filesystem must be ext2/3/4 without 64bit, or vfat');
  const boot = ctx.disk.partitions.find((p) => p.mount === '/boot') ?? ctx.disk.partitions.find((p) => p.role === 'root')!;
  const root = ctx.disk.partitions.find((p) => p.role === 'root')!;
  const dir = join(ctx.paths.target, 'boot/extlinux');
  mkdirSync(dir, { recursive: true });
  fail(await ctx.exec(['extlinux', '--install', dir]));
  // The image's extlinux.conf may say root=UUID=@ROOTUUID@: only now is the UUID known.
  const conf = join(dir, 'extlinux.conf');
  if (existsSync(conf)) writeFileSync(conf, readFileSync(conf, 'utf8').replaceAll('@ROOTUUID@', await filesystemUuid(ctx.exec, root.device, 'bootloader')));
  writeMbrCode(ctx.disk.device, GPTMBR);
  fail(await ctx.exec(['sfdisk', '--part-attrs', ctx.disk.device, String(boot.number), 'LegacyBIOSBootable']));
  return { bootloader: 'extlinux', bootPartition: boot.device };
}

function writeMbrCode(disk: string, image: string): void {
  const code = Buffer.alloc(MBR_CODE_BYTES);
  const src = openSync(image, 'r');
  readSync(src, code, 0, MBR_CODE_BYTES, 0);
  closeSync(src);
  const fd = openSync(disk, 'r+');
  try {
    writeSync(fd, code, 0, MBR_CODE_BYTES, 0);
  } finally {
    closeSync(fd);
  }
}

export const bootloader: Step<GrubArgs | null> = {
  name: 'bootloader',
  destructive: true,
  abortable: false,
  prepare(plan, facts) {
    if (plan.bootloader === 'grub') return grubArgs(plan, facts);
    if (plan.bootloader === 'extlinux' && facts.arch !== 'x64') throw new PlanError('bootloader', 'extlinux', 'grub or none on this architecture');
    return null;
  },
  async run(ctx, args) {
    let detail: Record<string, unknown>;
    if (ctx.plan.bootloader === 'grub') detail = await grub(ctx, args!);
    else if (ctx.plan.bootloader === 'extlinux') detail = await extlinux(ctx);
    else detail = { bootloader: 'none' };
    ctx.log.info('bootloader installed', detail);
    return { detail };
  },
};

