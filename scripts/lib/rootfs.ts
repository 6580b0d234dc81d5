import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

// Building blocks for small root trees made from this machine's Debian files: the
// installer initrd (scripts/build-initrd.ts) and the tiny test image
// (scripts/mkimage-busybox.ts). Everything runs argv-style, no shell.

export function run(argv: string[], opts: { cwd?: string; input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): string {
  const [file, ...args] = argv;
  return execFileSync(file!, args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

/** Merged /usr: /bin, /sbin, /lib, /lib64 and /usr/sbin all lead to /usr, so every tool path works. */
export function makeSkeleton(root: string, extraDirs: string[] = []): void {
  rmSync(root, { recursive: true, force: true });
  for (const d of ['usr/bin', 'usr/lib', 'usr/lib64', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'root', 'mnt', 'var', ...extraDirs]) {
    mkdirSync(join(root, d), { recursive: true });
  }
  symlinkSync('usr/bin', join(root, 'bin'));
  symlinkSync('usr/bin', join(root, 'sbin'));
  symlinkSync('bin', join(root, 'usr/sbin'));
  symlinkSync('usr/lib', join(root, 'lib'));
  symlinkSync('usr/lib64', join(root, 'lib64'));
  chmodSync(join(root, 'tmp'), 0o1777);
}

/** Where a host path lands in a merged-/usr tree (/sbin/x and /usr/sbin/x → /usr/bin/x). */
function mergedPath(p: string): string {
  return p.replace(/^\/(usr\/)?s?bin\//, '/usr/bin/').replace(/^\/lib(64)?\//, '/usr/lib$1/');
}

/** The shared libraries ldd says an ELF file needs (absolute paths on this machine). */
export function sharedLibraries(elf: string): string[] {
  let out: string;
  try {
    out = run(['ldd', elf]);
  } catch {
    return []; // static
  }
  return [...out.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}

/** Copies an executable and the libraries it needs; returns its path in the tree. */
export function copyWithLibs(root: string, hostPath: string, destPath = mergedPath(hostPath)): string {
  const dest = join(root, destPath);
  mkdirSync(dirname(dest), { recursive: true });
  rmSync(dest, { force: true }); // a busybox applet link of the same name
  copyFileSync(realpathSync(hostPath), dest);
  chmodSync(dest, 0o755);
  for (const lib of sharedLibraries(hostPath)) {
    const libDest = join(root, mergedPath(lib));
    if (existsSync(libDest)) continue;
    mkdirSync(dirname(libDest), { recursive: true });
    copyFileSync(realpathSync(lib), libDest);
    chmodSync(libDest, 0o755);
  }
  return destPath;
}

/** Finds a program on this machine's PATH (plus the sbin directories). */
export function which(tool: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  throw new Error(`${tool} not found on this machine (run scripts/setup.sh)`);
}

/** busybox-static with a link per applet, not overwriting what is already there. */
export function installBusybox(root: string): string[] {
  const bin = join(root, 'usr/bin');
  copyFileSync('/bin/busybox', join(bin, 'busybox'));
  chmodSync(join(bin, 'busybox'), 0o755);
  const applets = run(['/bin/busybox', '--list']).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) if (!existsSync(join(bin, a))) symlinkSync('busybox', join(bin, a));
  return applets;
}

/** Lines of a list file without comments and blanks. */
export function readList(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/**
 * Copies kernel modules with their dependencies from an unpacked kernel package
 * (kernelRoot/lib/modules/VERSION, as scripts/kernel.sh leaves it) and indexes them,
 * so busybox modprobe and the kernel's autoloader find them.
 */
export function copyModules(root: string, kernelRoot: string, version: string, names: string[]): string[] {
  const src = join(kernelRoot, 'lib/modules', version);
  const deps = run(['modprobe', '-d', kernelRoot, '-S', version, '--show-depends', '-a', ...names]);
  const files = [...new Set([...deps.matchAll(/^insmod (\S+)/gm)].map((m) => m[1]!))].sort();
  const dest = join(root, 'usr/lib/modules', version);
  for (const f of files) {
    const rel = relative(realpathSync(src), realpathSync(f));
    mkdirSync(dirname(join(dest, rel)), { recursive: true });
    copyFileSync(f, join(dest, rel));
  }
  for (const meta of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) copyFileSync(join(src, meta), join(dest, meta));
  run(['depmod', '-b', join(root, 'usr'), version]);
  return files;
}

/** Every path below root, sorted bytewise (the order cpio and tar write them in). */
function listTree(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    out.push(p);
    if (e.isDirectory() && !e.isSymbolicLink()) out.push(...listTree(root, p));
  }
  return out;
}

/** Bytes in regular files below root (links counted once, as a cpio holds them). */
export function treeBytes(root: string): number {
  return listTree(root).reduce((sum, p) => {
    const s = lstatSync(join(root, p));
    return sum + (s.isFile() ? s.size : 0);
  }, 0);
}

/** A reproducible newc cpio: sorted names, mtime 0, owner root, no inode numbers; zstd-compressed. */
export function packCpioZstd(root: string, out: string, zstdLevel: number): void {
  const paths = listTree(root).sort();
  for (const p of [...paths.map((x) => join(root, x)), root]) lutimesSync(p, 0, 0);
  const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--reproducible', '--quiet'], { cwd: root, input: paths.join('\n') + '\n', maxBuffer: 1 << 30 });
  const tmp = `${out}.tmp`;
  mkdirSync(dirname(out), { recursive: true });
  execFileSync('zstd', ['-q', '-f', '-T0', `-${zstdLevel}`, ...(zstdLevel > 19 ? ['--ultra'] : []), '-o', tmp], { input: cpio, maxBuffer: 1 << 30 });
  execFileSync('mv', [tmp, out]);
}

export function writeFile(root: string, path: string, text: string, mode = 0o644): void {
  const dest = join(root, path);
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(dest, text);
  chmodSync(dest, mode);
}
