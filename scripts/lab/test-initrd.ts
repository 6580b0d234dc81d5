import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

// The e2e test initrd: busybox-static and an /init that prints one marker line with the
// rackcast.* kernel parameters it got, and with `rctest.report=1` also brings the NIC up,
// fetches the plan with the node token, claims a completed install without receiving
// anything (which the server refuses), and reboots once the server says so: the server's
// half of an install without the real agent. Written as a newc cpio here
// (no cpio tool needed); the kernel and its modules come from scripts/kernel.sh.

export const REPO = resolve(import.meta.dirname, '../..');
export const KERNEL_DIR = join(REPO, 'build/kernel/current');
export const KERNEL = join(KERNEL_DIR, 'vmlinuz');
export const MARKER = 'RACKCAST-TEST-INITRD';
export const REPORTED = 'RACKCAST-TEST-REPORTED';

const NET_MODULES = ['virtio_pci', 'virtio_net'];

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mode=; token=; server=; bootif=; report=
for w in $(cat /proc/cmdline); do
  case $w in
    rackcast.mode=*) mode=\${w#*=};; rackcast.token=*) token=\${w#*=};; rackcast.server=*) server=\${w#*=};;
    BOOTIF=*) bootif=\${w#*=};; rctest.report=1) report=1;;
  esac
done
echo "${MARKER} mode=$mode bootif=$bootif server=$server token=$token pad=$(ls -l /pad.bin 2>/dev/null | awk '{print $5}')"
if [ -n "$report" ]; then
  for m in $(cat /modules.order); do insmod /lib/modules/$m.ko 2>/dev/null; done
  ip link set lo up
  i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  udhcpc -i eth0 -n -q -t 5 -T 2 -s /udhcpc.script >/tmp/udhcpc.log 2>&1 || cat /tmp/udhcpc.log
  auth="Authorization: Bearer $token"
  wget -q -O /tmp/plan.json --header "$auth" "$server/api/v1/agent/plan" && echo "RACKCAST-TEST-PLAN $(cat /tmp/plan.json)"
  # Reports complete without having received anything: the server must refuse that.
  wget -q -O - --header "$auth" --header 'Content-Type: application/json' \\
    --post-data '{"durationMs":1}' "$server/api/v1/agent/complete" >/dev/null 2>&1
  echo "${REPORTED}"
  # Then, as the agent does, wait for the server to say reboot.
  i=0; while [ $i -lt 300 ]; do
    wget -q -O - --header "$auth" "$server/api/v1/agent/next" 2>/dev/null | grep -q reboot && break
    sleep 1; i=$((i+1))
  done
  sync; reboot -f
fi
sync; poweroff -f
`;

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew) ip addr add "$ip/\${mask:-24}" dev "$interface" ;;
esac
exit 0
`;

interface Entry {
  name: string;
  mode: number;
  data: Buffer;
}

/** A newc cpio archive (what the kernel unpacks as initramfs). */
export function cpioNewc(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0, data: Buffer.alloc(0) }]) {
    const name = Buffer.from(e.name + '\0');
    const header = '070701' + [ino++, e.mode, 0, 0, 1, 0, e.data.length, 0, 0, 0, 0, name.length, 0].map(hex).join('');
    parts.push(Buffer.from(header), name, pad4(110 + name.length), e.data, pad4(e.data.length));
  }
  return Buffer.concat(parts);
}

/** Module names to insmod for `wanted`, dependencies first (from the kernel's modules.dep). */
function moduleClosure(modDir: string, wanted: string[]): { name: string; path: string }[] {
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(modDir, 'modules.dep'), 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod) deps.set(mod, (rest ?? '').trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map([...deps.keys()].map((p) => [p.replace(/^.*\//, '').replace(/\.ko.*$/, ''), p]));
  const order: string[] = [];
  const visit = (path: string) => {
    if (order.includes(path)) return;
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const w of wanted) {
    const p = byName.get(w);
    if (p) visit(p); // built into the kernel otherwise
  }
  return order.map((p) => ({ name: p.replace(/^.*\//, '').replace(/\.ko.*$/, ''), path: join(modDir, p) }));
}

export interface TestInitrdOptions {
  /** Random, incompressible padding (MiB) to make a big initrd; 0 = small. */
  padMiB?: number;
}

/** Builds (once, cached under build/test-initrd) and returns the initrd path. */
export function testInitrd(opts: TestInitrdOptions = {}): string {
  const pad = opts.padMiB ?? 0;
  if (!existsSync(KERNEL)) throw new Error(`no kernel at ${KERNEL}: run bash scripts/kernel.sh`);
  const modRoot = join(KERNEL_DIR, 'lib/modules');
  const kver = readdirSync(modRoot)[0]!;
  const modDir = join(modRoot, kver);
  // One file per kernel (it carries that kernel's modules); rebuilt when this file changes.
  const out = join(REPO, 'build/test-initrd', `initrd-${kver}${pad ? `-pad${pad}` : ''}.img`);
  if (existsSync(out) && statSync(out).mtimeMs > statSync(import.meta.filename).mtimeMs) return out;
  const mods = moduleClosure(modDir, NET_MODULES);
  const dir = (name: string): Entry => ({ name, mode: 0o40755, data: Buffer.alloc(0) });
  const entries: Entry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'tmp', 'lib', 'lib/modules'].map(dir),
    { name: 'bin/busybox', mode: 0o100755, data: readFileSync('/bin/busybox') },
    { name: 'init', mode: 0o100755, data: Buffer.from(INIT) },
    { name: 'udhcpc.script', mode: 0o100755, data: Buffer.from(UDHCPC_SCRIPT) },
    { name: 'modules.order', mode: 0o100644, data: Buffer.from(mods.map((m) => m.name).join('\n') + '\n') },
    ...mods.map((m) => ({ name: `lib/modules/${m.name}.ko`, mode: 0o100644, data: readFileSync(m.path) })),
  ];
  // The padding stays uncompressed (random data does not compress) so the size is real;
  // the kernel reads concatenated archives and skips the zeros that align the second one.
  const gz = gzipSync(cpioNewc(entries), { level: 1 });
  const archive = Buffer.concat([gz, Buffer.alloc((4 - (gz.length % 4)) % 4)]);
  const padding = pad ? cpioNewc([{ name: 'pad.bin', mode: 0o100644, data: randomBytes(pad * 1024 * 1024) }]) : Buffer.alloc(0);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out + '.tmp', Buffer.concat([archive, padding]));
  renameSync(out + '.tmp', out);
  return out;
}
