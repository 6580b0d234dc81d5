import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { InstallPlan, StepReport } from '../../../contract/index.ts';
import { Lab } from '../../../scripts/lab/netns.ts';
import { testPlan } from '../../helpers/agent-plan.ts';
import { LoopDisk, loopDevicesAvailable } from '../../helpers/loop-disk.ts';

// The whole agent (agent/main.ts, as the initrd runs it, minus the NIC bring-up) in one
// network namespace, a stand-in boot server and `rackcast send` in another: plan,
// inventory, every step reported, the image over a real cast session into a loop device.

const REPO = join(import.meta.dirname, '../../..');
const NODE = process.execPath;
const TOKEN = 'f00dfeed';

interface Event {
  method: string;
  path: string;
  ok: boolean;
  body: unknown;
}

describe.skipIf(!loopDevicesAvailable())('agent install over a cast session', () => {
  let lab: Lab;
  let work: string;
  let image: string;
  let disk: LoopDisk | null = null;

  beforeAll(async () => {
    work = mkdtempSync(join(os.tmpdir(), 'rc-agent-install-'));
    image = join(work, 'busybox.tar.zst');
    execFileSync(NODE, [join(REPO, 'scripts/mkimage-busybox.ts'), '--out', join(work, 'image'), '--tar', image], { stdio: 'ignore' });
    lab = await Lab.create({ hosts: [{ role: 'srv', cidr: '10.79.0.1/24' }, { role: 'node', cidr: '10.79.0.2/24' }] });
  });

  afterEach(() => {
    disk?.destroy();
    disk = null;
  });

  afterAll(async () => {
    await lab?.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  /** Runs one install: server + sender in srv, the agent in node; returns its exit code and the server's events. */
  async function install(name: string, plan: InstallPlan, opts: { next?: string; sender?: boolean } = {}): Promise<{ code: number; stdout: string; events: Event[] }> {
    const dir = join(work, name);
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
    const events = join(dir, 'events.jsonl');
    writeFileSync(events, '');
    const server = lab.spawn('srv', [NODE, join(REPO, 'test/helpers/fake-bootserver.ts'), '--port', '8080', '--token', TOKEN, '--plan', join(dir, 'plan.json'), '--events', events, '--next', opts.next ?? 'reboot'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => server.stdout!.once('data', r));
    const sender = opts.sender === false ? null : lab.spawn('srv', [NODE, join(REPO, 'cli/main.ts'), 'send', '--file', image, '--interface', 'eth0', '--portbase', '9000', '--min-receivers', '1', '--max-wait', '60'], { stdio: 'ignore' });
    try {
      const agent = await lab.exec(
        'node',
        [NODE, join(REPO, 'agent/main.ts'), '--allow-host', '--cmdline', `rackcast.server=http://10.79.0.1:8080 rackcast.token=${TOKEN}`, '--target', join(dir, 'target'), '--staging', join(dir, 'staging'), '--next-wait', '20'],
        { timeoutMs: 150_000 },
      );
      const ev = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Event);
      return { code: agent.code, stdout: agent.stdout + agent.stderr, events: ev };
    } finally {
      server.kill('SIGKILL');
      sender?.kill('SIGKILL');
    }
  }

  const steps = (events: Event[]) => events.filter((e) => e.path === '/api/v1/agent/step').map((e) => e.body as StepReport);
  const finals = (events: Event[]) => steps(events).filter((s) => s.status !== 'running');

  function readInstalled(d: LoopDisk, rel: string): string {
    const mnt = mkdtempSync(join(work, 'mnt-'));
    execFileSync('mount', ['-o', 'ro', `${d.device}p4`, mnt]);
    try {
      return readFileSync(join(mnt, rel), 'utf8');
    } finally {
      execFileSync('umount', [mnt]);
    }
  }

  test('staged in tmpfs: every step reported in order, sha256 verified, logs streamed, next obeyed', async () => {
    disk = LoopDisk.create(384);
    const sha256 = execFileSync('sha256sum', [image], { encoding: 'utf8' }).split(' ')[0]!;
    const plan = testPlan(disk.device, { bootloader: 'extlinux', image: { name: 'busybox', format: 'tar.zst', sizeBytes: statSync(image).size, sha256 } });
    const r = await install('tmpfs', plan);
    expect(r.code, r.stdout).toBe(0); // the server said reboot
    expect(r.events.every((e) => e.ok)).toBe(true);
    // the contract's order: plan, inventory, then the steps
    expect(r.events.slice(0, 3).map((e) => e.path)).toEqual(['/api/v1/agent/plan', '/api/v1/agent/inventory', '/api/v1/agent/step']);
    expect(r.events[1]!.body).toMatchObject({ cpus: expect.any(Number), memoryBytes: expect.any(Number), nics: [{ name: 'eth0', mac: expect.stringMatching(/^[0-9a-f:]{17}$/) }], agentVersion: 'source' });
    const done = finals(r.events);
    expect(done.map((s) => `${s.step}:${s.status}`)).toEqual(['wipe', 'partition', 'mkfs', 'receive', 'verify', 'extract', 'identity', 'bootloader', 'hooks', 'finish'].map((s) => `${s}:succeeded`));
    const receive = done.find((s) => s.step === 'receive')!;
    expect(receive).toMatchObject({ bytes: statSync(image).size, detail: { staging: 'tmpfs', sha256 } });
    expect(receive.rateBytesPerSec).toBeGreaterThan(0);
    expect(done.find((s) => s.step === 'verify')!.detail).toMatchObject({ checked: ['size', 'sha256', 'zstd-frames'] });
    // The completion report, after every step report, carries what the agent received.
    const complete = r.events.findIndex((e) => e.path === '/api/v1/agent/complete');
    const lastStep = r.events.findLastIndex((e) => e.path === '/api/v1/agent/step');
    expect(complete, 'no completion report').toBeGreaterThan(lastStep);
    expect(r.events[complete]!.body).toMatchObject({ durationMs: expect.any(Number), image: { bytes: statSync(image).size, sha256 } });
    const logs = r.events.filter((e) => e.path === '/api/v1/agent/log').flatMap((e) => (e.body as { lines: { msg: string }[] }).lines.map((l) => l.msg));
    expect(logs.some((m) => m.includes('step receive succeeded'))).toBe(true);
    expect(r.events.at(-1)!.path).toMatch(/\/api\/v1\/agent\/(next|log)/);
    expect(readInstalled(disk, 'etc/hostname')).toBe('node10\n');
    expect(readInstalled(disk, 'etc/rackcast-installed')).toContain('host=node10');
    console.info(`install (tmpfs) step times ms: ${done.map((s) => `${s.step}=${s.durationMs}`).join(' ')}`);
  });

  test('tmpfs too small for the cap: says so, extracts while receiving', async () => {
    disk = LoopDisk.create(384);
    const plan = testPlan(disk.device, { bootloader: 'none', stagingCapBytes: 2 ** 50 });
    const r = await install('direct', plan);
    expect(r.code, r.stdout).toBe(0);
    const done = finals(r.events);
    expect(done.every((s) => s.status === 'succeeded')).toBe(true);
    expect(done.find((s) => s.step === 'receive')!.detail).toMatchObject({ staging: 'direct', reason: expect.stringContaining('extracting while receiving') });
    expect(done.find((s) => s.step === 'verify')!.detail).toMatchObject({ checked: ['zstd-frames-while-extracting'] });
    expect(done.find((s) => s.step === 'extract')!.detail).toMatchObject({ extractedBy: 'receive' });
    expect(r.stdout).toMatch(/warn agent:receive image will not fit in tmpfs/);
    expect(readInstalled(disk, 'etc/fstab')).toMatch(/^UUID=\S+ \/ ext4 errors=remount-ro 0 1$/m);
    console.info(`install (direct) step times ms: ${done.map((s) => `${s.step}=${s.durationMs}`).join(' ')}`);
  });

  test('no sender: receive fails with the cast start timeout, and the node waits for the server', async () => {
    disk = LoopDisk.create(128);
    const plan = testPlan(disk.device, {
      bootloader: 'none',
      disk: { device: disk.device, wipe: true, layout: [{ name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' }] },
      session: { portbase: 9000, startTimeoutSec: 2, receiveTimeoutSec: 5 },
    });
    const r = await install('nosender', plan, { next: 'poweroff', sender: false });
    expect(r.code, r.stdout).toBe(11); // power off after a failed install
    const failed = finals(r.events).at(-1)!;
    expect(failed).toMatchObject({ step: 'receive', status: 'failed', error: { code: 'AGENT_RECEIVE_FAILED', message: expect.stringContaining('did not start within 2 s'), remedy: expect.stringContaining('no sender answered') } });
    expect(r.events.at(-1)!.path).toMatch(/next|log/);
    expect(r.events.some((e) => e.path === '/api/v1/agent/next')).toBe(true);
  });
});

describe.skipIf(!loopDevicesAvailable())('agent failure handling', () => {
  test('an agent waiting for a session the server no longer runs stops when the server says retry, not at its start timeout', async () => {
    const lab = await Lab.create({ hosts: [{ role: 'srv', cidr: '10.79.3.1/24' }, { role: 'node', cidr: '10.79.3.2/24' }] });
    const work = mkdtempSync(join(os.tmpdir(), 'rc-agent-gone-'));
    const disk = LoopDisk.create(64);
    try {
      // No sender, and a start timeout far longer than the test: only the server's answer can end the wait.
      const plan = testPlan(disk.device, { bootloader: 'none', disk: { device: disk.device, wipe: true, layout: [{ name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' }] }, session: { portbase: 9000, startTimeoutSec: 3600, receiveTimeoutSec: 3600 } });
      writeFileSync(join(work, 'plan.json'), JSON.stringify(plan));
      const events = join(work, 'events.jsonl');
      writeFileSync(events, '');
      const server = lab.spawn('srv', [NODE, join(REPO, 'test/helpers/fake-bootserver.ts'), '--port', '8080', '--token', TOKEN, '--plan', join(work, 'plan.json'), '--events', events, '--next', 'wait,wait,wait,wait,wait,retry,poweroff'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((r) => server.stdout!.once('data', r));
      const t0 = Date.now();
      const agent = await lab.exec('node', [NODE, join(REPO, 'agent/main.ts'), '--allow-host', '--retry-poll', '1', '--cmdline', `rackcast.server=http://10.79.3.1:8080 rackcast.token=${TOKEN}`, '--target', join(work, 't'), '--staging', join(work, 's')], { timeoutMs: 90_000 });
      expect(agent.code, agent.stdout + agent.stderr).toBe(11);
      expect(Date.now() - t0).toBeLessThan(60_000);
      const ev = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Event);
      const receive = ev.filter((e) => e.path === '/api/v1/agent/step').map((e) => e.body as StepReport).find((s) => s.step === 'receive' && s.status === 'failed');
      expect(receive?.error?.code).toBe('AGENT_RECEIVE_FAILED');
      const logs = ev.filter((e) => e.path === '/api/v1/agent/log').flatMap((e) => (e.body as { lines: { msg: string }[] }).lines.map((l) => l.msg));
      expect(logs.some((m) => m.includes('the server wants this install again'))).toBe(true);
    } finally {
      disk.destroy();
      rmSync(work, { recursive: true, force: true });
      await lab.destroy();
    }
  });

  test('after a failure the node asks the server, runs the plan again on "retry", and powers off when told', async () => {
    const lab = await Lab.create({ hosts: [{ role: 'srv', cidr: '10.79.2.1/24' }, { role: 'node', cidr: '10.79.2.2/24' }] });
    const work = mkdtempSync(join(os.tmpdir(), 'rc-agent-retry-'));
    const disk = LoopDisk.create(64);
    try {
      writeFileSync(join(work, 'plan.json'), JSON.stringify(testPlan(disk.device, { disk: { device: disk.device, wipe: true, layout: [{ name: 'root', role: 'root', size: '1GiB' }] }, bootloader: 'none' })));
      const events = join(work, 'events.jsonl');
      writeFileSync(events, '');
      const server = lab.spawn('srv', [NODE, join(REPO, 'test/helpers/fake-bootserver.ts'), '--port', '8080', '--token', TOKEN, '--plan', join(work, 'plan.json'), '--events', events, '--next', 'wait,retry,poweroff'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((r) => server.stdout!.once('data', r));
      const agent = await lab.exec('node', [NODE, join(REPO, 'agent/main.ts'), '--allow-host', '--cmdline', `rackcast.server=http://10.79.2.1:8080 rackcast.token=${TOKEN}`, '--target', join(work, 't'), '--staging', join(work, 's')], { timeoutMs: 60_000 });
      expect(agent.code, agent.stdout + agent.stderr).toBe(11); // power off after a failed install
      const ev = readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Event);
      const calls = ev.filter((e) => e.path !== '/api/v1/agent/log').map((e) => e.path.replace('/api/v1/agent/', ''));
      expect(calls).toEqual(['plan', 'inventory', 'step', 'next', 'next', 'plan', 'step', 'next']);
      const failed = ev.filter((e) => e.path === '/api/v1/agent/step').map((e) => e.body as StepReport);
      expect(failed).toEqual([0, 1].map(() => expect.objectContaining({ step: 'plan', status: 'failed', error: expect.objectContaining({ code: 'AGENT_DISK_TOO_SMALL' }) })));
      const logs = ev.filter((e) => e.path === '/api/v1/agent/log').flatMap((e) => (e.body as { lines: { msg: string }[] }).lines.map((l) => l.msg));
      expect(logs.some((m) => m.includes('no disk was touched'))).toBe(true);
      expect(logs.some((m) => m.includes('server says next=retry'))).toBe(true);
    } finally {
      disk.destroy();
      await lab.destroy();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
