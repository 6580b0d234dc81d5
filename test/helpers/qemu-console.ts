import { spawn, type ChildProcess } from 'node:child_process';

// Runs QEMU (TCG: this machine's KVM cannot run a stock kernel) with the serial console
// on stdout, keeps the output, and waits for marker strings. Kills only its own child.

export interface QemuRun {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the output once `marker` appeared; rejects on exit or timeout. */
  waitFor(marker: string | RegExp, timeoutMs: number): Promise<string>;
  /** Kills QEMU if it still runs; resolves once it is gone (and its disk lock with it). */
  stop(): Promise<void>;
}

/** `prefix` runs QEMU through another command, e.g. `ip netns exec NS` (which execs it: same PID). */
export function startQemu(args: string[], prefix: string[] = []): QemuRun {
  const argv = [...prefix, 'qemu-system-x86_64', '-accel', 'tcg,thread=multi', '-cpu', 'max', '-nographic', '-no-reboot', ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.once('exit', () => {
    for (const l of listeners) l();
  });
  return {
    child,
    output: () => out,
    waitFor(marker, timeoutMs) {
      return new Promise((resolve, reject) => {
        const found = () => (typeof marker === 'string' ? out.includes(marker) : marker.test(out));
        const check = () => {
          if (found()) return done(() => resolve(out));
          if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`QEMU exited before ${marker}:\n${out.slice(-3000)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${marker} within ${timeoutMs} ms:\n${out.slice(-3000)}`))), timeoutMs);
        const done = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
    stop() {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      return gone;
    },
  };
}
