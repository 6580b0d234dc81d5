import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startQemu, type QemuRun } from '../../helpers/qemu-console.ts';

// Boots the installer kernel + initrd in QEMU (-kernel/-initrd, TCG, no network) with
// rackcast.mode=selftest: /init loads drivers and runs `agent --self-test`, which must
// find its runtime (SEA, zstd, dgram) and every tool in the initrd.

const REPO = join(import.meta.dirname, '../../..');
const OUT = join(REPO, 'build/initrd');
let vm: QemuRun | null = null;

beforeAll(() => {
  // Cached by input hash: rebuilt only when the agent or the initrd inputs changed.
  execFileSync(process.execPath, [join(REPO, 'scripts/build-initrd.ts')], { stdio: 'inherit' });
});

afterAll(async () => {
  await vm?.stop();
});

test('the initrd boots to the agent, whose self-test passes', async () => {
  const t0 = performance.now();
  vm = startQemu(['-m', '1024', '-smp', '2', '-nic', 'none', '-kernel', join(OUT, 'vmlinuz'), '-initrd', join(OUT, 'initrd.img'), '-append', 'console=ttyS0,115200 rackcast.mode=selftest panic=-1']);
  const out = await vm.waitFor(/RACKCAST-SELFTEST-(OK|FAILED)/, 300_000);
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  const report = JSON.parse(out.split('\n').find((l) => l.startsWith('{"selfTest"'))!.trim()) as { selfTest: string; checks: { name: string; ok: boolean; detail: string }[] };
  console.info(`QEMU start to self-test result: ${seconds} s`);
  expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  expect(report.selfTest).toBe('ok');
  expect(report.checks.find((c) => c.name === 'sea')!.detail).toBe('single executable');
  expect(report.checks.find((c) => c.name === 'rmem_max')!.detail).toMatch(/^16777216 bytes/);
  expect(out).toContain('RACKCAST-SELFTEST-OK');
  await vm.waitFor('reboot: Power down', 60_000);
});
