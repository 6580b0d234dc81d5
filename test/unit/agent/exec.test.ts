import { expect, test } from 'vitest';
import { silentLogger } from '../../../common/log.ts';
import { checkResult, CommandFailedError, toStepError } from '../../../agent/errors.ts';
import { createExec } from '../../../agent/exec.ts';

const exec = createExec(silentLogger);

test('stdout is kept for parsing and the tail holds both streams', async () => {
  const r = await exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  expect(r).toMatchObject({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'], exitCode: 3, signal: null, stdout: 'out\n' });
  expect(r.outputTail).toContain('out\n');
  expect(r.outputTail).toContain('err\n');
});

test('the tail is the last 2 KiB of output', async () => {
  const r = await exec(['sh', '-c', 'seq 1 5000']);
  expect(r.outputTail.length).toBeLessThanOrEqual(2048);
  expect(r.outputTail.endsWith('4999\n5000\n')).toBe(true);
});

test('input goes to stdin', async () => {
  expect((await exec(['cat'], { input: 'label: gpt\n' })).stdout).toBe('label: gpt\n');
});

test('a missing program is exit 127 with the reason, not a throw', async () => {
  const r = await exec(['/nonexistent/mkfs.ext9', '/dev/x']);
  expect(r.exitCode).toBe(127);
  expect(r.outputTail).toContain('ENOENT');
});

test('a timeout kills the tool; the error says so', async () => {
  const r = await exec(['sleep', '10'], { timeoutMs: 100 });
  expect(r).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
  expect(() => checkResult(r, 'AGENT_HOOK_FAILED', 'hooks', 'fix it')).toThrow(/sleep 10 was killed by SIGKILL/);
});

test('a failed command becomes a step error with command, exit code and output tail', async () => {
  const r = await exec(['sh', '-c', 'echo "mkfs.ext4: Device size reported to be zero" >&2; exit 1']);
  let err: unknown;
  try {
    checkResult(r, 'AGENT_MKFS_FAILED', 'mkfs', 'check the partition');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CommandFailedError);
  expect(toStepError(err)).toEqual({
    code: 'AGENT_MKFS_FAILED',
    message: expect.stringContaining('exited with 1: mkfs.ext4: Device size reported to be zero'),
    command: r.argv,
    exitCode: 1,
    outputTail: 'mkfs.ext4: Device size reported to be zero\n',
    remedy: 'check the partition',
  });
});
