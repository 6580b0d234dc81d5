import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';

// QEMU VMs for PXE and install tests: BIOS (SeaBIOS) or UEFI (OVMF), any number of NICs
// on lab taps and disks, serial console to a file that is watched for markers. Started
// inside a lab namespace through `launch` (e.g. lab.spawnOnSwitch), killed by PID.

export type Firmware = 'bios' | 'uefi';

export interface NicSpec {
  /** Tap device (in the namespace QEMU runs in). */
  tap: string;
  mac: string;
  /** 'ipxe': QEMU's iPXE option ROM (default); 'none': the firmware's own PXE (OVMF) or none (SeaBIOS). */
  rom?: 'ipxe' | 'none';
  model?: string;
  /** Firmware boot priority; lower first. Omit to keep the NIC out of the boot order. */
  bootindex?: number;
}

export interface DiskSpec {
  file: string;
  format?: 'raw' | 'qcow2';
  bootindex?: number;
}

export interface VmSpec {
  name: string;
  firmware: Firmware;
  /** Serial log, OVMF variables and QEMU's own output go here. */
  workDir: string;
  nics?: NicSpec[];
  disks?: DiskSpec[];
  memoryMiB?: number;
  cpus?: number;
  /** Direct kernel boot (agent tests) instead of firmware boot. */
  kernel?: string;
  initrd?: string;
  append?: string;
  /** Let the guest reboot (default: a reboot ends QEMU, -no-reboot). */
  allowReboot?: boolean;
  extraArgs?: string[];
  /** Starts the argv (default: a plain child process), e.g. inside a namespace. */
  launch?: (argv: string[], opts: SpawnOptions) => ChildProcess;
}

/** Serial patterns that mean the boot cannot succeed any more. */
export const BOOT_FAILURES = ['PXE-E', 'No bootable device', 'Kernel panic', 'Could not boot', 'No more network devices'];

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const POLL_MS = 50;

/**
 * KVM only where it can boot stock guests: a PVM-based nested KVM (module kvm_pvm) exposes
 * /dev/kvm but cannot run OVMF or a Debian kernel. Never `-cpu host` (PVM aborts on MSRs).
 * RACKCAST_QEMU_ACCEL=tcg|kvm overrides.
 */
export function accelArgs(): string[] {
  const forced = process.env.RACKCAST_QEMU_ACCEL;
  if (forced === 'tcg' || forced === 'kvm') return forced === 'kvm' ? ['-accel', 'kvm', '-cpu', 'max'] : ['-accel', 'tcg'];
  let writable = false;
  try {
    accessSync('/dev/kvm', constants.W_OK);
    writable = true;
  } catch {
    // no usable /dev/kvm
  }
  return writable && !existsSync('/sys/module/kvm_pvm') ? ['-accel', 'kvm', '-cpu', 'max'] : ['-accel', 'tcg'];
}

export function qemuArgs(spec: VmSpec, serialLog: string): string[] {
  const args = ['qemu-system-x86_64', ...accelArgs(), '-m', String(spec.memoryMiB ?? 1024), '-smp', String(spec.cpus ?? 1)];
  // -nographic (not -display none): SeaBIOS and iPXE only print to serial with it.
  args.push('-nodefaults', '-no-user-config', '-nographic', '-vga', 'none', '-monitor', 'none', '-serial', `file:${serialLog}`);
  if (!spec.allowReboot) args.push('-no-reboot');
  if (spec.firmware === 'uefi') {
    // A private writable copy of the variable store per VM, never the file in /usr/share.
    const vars = join(spec.workDir, `${spec.name}-vars.fd`);
    copyFileSync(OVMF_VARS, vars);
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  (spec.nics ?? []).forEach((nic, i) => {
    args.push('-netdev', `tap,id=n${i},ifname=${nic.tap},script=no,downscript=no`);
    let dev = `${nic.model ?? 'virtio-net-pci'},netdev=n${i},mac=${nic.mac}`;
    if (nic.rom === 'none') dev += ',romfile=';
    if (nic.bootindex !== undefined) dev += `,bootindex=${nic.bootindex}`;
    args.push('-device', dev);
  });
  (spec.disks ?? []).forEach((disk, i) => {
    args.push('-drive', `file=${disk.file},if=none,id=d${i},format=${disk.format ?? 'raw'}`);
    args.push('-device', `virtio-blk-pci,drive=d${i}${disk.bootindex !== undefined ? `,bootindex=${disk.bootindex}` : ''}`);
  });
  if (spec.kernel) args.push('-kernel', spec.kernel);
  if (spec.initrd) args.push('-initrd', spec.initrd);
  if (spec.append) args.push('-append', spec.append);
  args.push(...(spec.extraArgs ?? []));
  return args;
}

export interface WaitOptions {
  timeoutMs: number;
  /** Serial patterns that end the wait as a failure (default BOOT_FAILURES). */
  failOn?: string[];
}

export interface WaitResult {
  ok: boolean;
  /** Seconds from QEMU start to the first appearance of each marker seen. */
  marks: Record<string, number>;
  /** Why the wait failed: a failure pattern, "timeout" or "qemu exited (code N)". */
  failure?: string;
  elapsedSec: number;
  serialLog: string;
  /** The last 2 KiB of the serial log, for assertion messages. */
  tail: string;
}

export class Vm {
  readonly spec: VmSpec;
  readonly serialLog: string;
  readonly child: ChildProcess;
  readonly startedAt: number;
  private text = '';
  private readOffset = 0;
  private exitCode: number | null | undefined;
  private readonly seen = new Map<string, number>();

  private constructor(spec: VmSpec) {
    this.spec = spec;
    mkdirSync(spec.workDir, { recursive: true });
    this.serialLog = join(spec.workDir, `${spec.name}-serial.log`);
    closeSync(openSync(this.serialLog, 'w'));
    const argv = qemuArgs(spec, this.serialLog);
    const out = openSync(join(spec.workDir, `${spec.name}-qemu.out`), 'w');
    this.startedAt = Date.now();
    const opts: SpawnOptions = { stdio: ['ignore', out, out] };
    this.child = spec.launch ? spec.launch(argv, opts) : spawn(argv[0]!, argv.slice(1), opts);
    closeSync(out);
    this.child.once('exit', (code) => (this.exitCode = code));
  }

  static start(spec: VmSpec): Vm {
    return new Vm(spec);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Serial output so far (ANSI sequences included). */
  serial(): string {
    this.poll();
    return this.text;
  }

  /** Waits until every marker has appeared (also inside partial lines), a failure pattern shows, QEMU exits or time runs out. */
  async waitFor(markers: string[], opts: WaitOptions): Promise<WaitResult> {
    const failOn = opts.failOn ?? BOOT_FAILURES;
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const exited = this.exitCode !== undefined;
      this.poll();
      for (const m of markers) this.note(m);
      if (markers.every((m) => this.seen.has(m))) return this.result(undefined);
      const failure = failOn.find((p) => this.text.includes(p));
      if (failure) return this.result(failure);
      if (exited) return this.result(`qemu exited (code ${this.exitCode})`);
      if (Date.now() > deadline) return this.result('timeout');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** The first serial line containing `marker`, once the line is complete (or as far as it got within the time). */
  async lineWith(marker: string, timeoutMs = 10_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.poll();
      const at = this.text.indexOf(marker);
      const end = at < 0 ? -1 : this.text.indexOf('\n', at);
      if (end >= 0) return this.text.slice(at, end).replace(/\r$/, '');
      if (Date.now() > deadline || this.exitCode !== undefined) return at < 0 ? null : this.text.slice(at);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Resolves when QEMU has exited (after kill() or a guest poweroff). */
  async exited(timeoutMs: number): Promise<number | null | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.exitCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, POLL_MS));
    return this.exitCode;
  }

  async kill(): Promise<void> {
    if (this.exitCode === undefined && this.child.pid !== undefined) this.child.kill('SIGKILL');
    await this.exited(10_000);
  }

  private note(marker: string): void {
    if (!this.seen.has(marker) && this.text.includes(marker)) this.seen.set(marker, (Date.now() - this.startedAt) / 1000);
  }

  private poll(): void {
    let size: number;
    try {
      size = statSync(this.serialLog).size;
    } catch {
      return;
    }
    if (size <= this.readOffset) return;
    const buf = Buffer.alloc(size - this.readOffset);
    const fd = openSync(this.serialLog, 'r');
    try {
      readSync(fd, buf, 0, buf.length, this.readOffset);
    } finally {
      closeSync(fd);
    }
    this.readOffset = size;
    this.text += buf.toString('latin1');
  }

  private result(failure: string | undefined): WaitResult {
    return {
      ok: failure === undefined,
      marks: Object.fromEntries(this.seen),
      ...(failure === undefined ? {} : { failure }),
      elapsedSec: (Date.now() - this.startedAt) / 1000,
      serialLog: this.serialLog,
      tail: this.text.slice(-2048).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''),
    };
  }
}
