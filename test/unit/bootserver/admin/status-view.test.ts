import { expect, test } from 'vitest';
import type { InstallStatus, NodeProgress } from '../../../../bootserver/api-types.ts';
import { renderStatus } from '../../../../bootserver/admin/status-view.ts';

const base: NodeProgress = {
  mac: '52:54:00:78:00:10', hostname: 'n001', phase: 'installing', image: 'debian12', session: 2, step: 'receive', stepStatus: 'running',
  stepsDone: 3, stepsTotal: 10, bytes: 50 * 2 ** 20, totalBytes: 200 * 2 ** 20, rateBytesPerSec: 25e6, etaSec: 6, elapsedSec: 75,
  failure: null, note: null, conflict: null, netboots: 0, updated: '2026-11-24T00:00:00.000Z',
};

const status: InstallStatus = {
  time: '2026-11-24T00:00:00.000Z',
  sessions: [{ id: 2, image: 'debian12', state: 'streaming', portbase: 9002, minReceivers: 2, members: 2, joined: 2, createdAt: new Date().toISOString(), startedAt: null, bytes: 50 * 2 ** 20, estimatedBytes: 200 * 2 ** 20, rateBytesPerSec: 25e6 }],
  nodes: [
    base,
    {
      ...base, mac: '52:54:00:78:00:11', hostname: 'n002', phase: 'failed', step: 'extract', stepStatus: 'failed', bytes: null, rateBytesPerSec: null, etaSec: null,
      failure: { step: 'extract', code: 'AGENT_EXTRACT_FAILED', message: 'tar exited 2', command: ['tar', '-x'], exitCode: 2, outputTail: 'a\nb\ntar: short read\n', remedy: 'check the image' },
    },
    { ...base, mac: '52:54:00:78:00:12', hostname: 'n003', phase: 'install', step: null, stepStatus: null, stepsDone: 0, bytes: null, rateBytesPerSec: null, etaSec: null, elapsedSec: null, note: 'session 2 of debian12 was already streaming; this node waits for session 3' },
  ],
};

test('a session line, a progress bar with rate and ETA, a failure with its command, output and remedy, a waiting note', () => {
  const text = renderStatus(status);
  expect(text).toMatch(/^session 2 {2}debian12 {2}streaming {2}2 node\(s\), 50\.0 MiB of ~200\.0 MiB, 25\.0 MB\/s {2}\(ports 9002-9003\)$/m);
  expect(text).toMatch(/^n001\s+installing\s+receive \(3\/10\)\s+\[#####\.{15}\] 50\.0 MiB \/ 200\.0 MiB\s+25\.0 MB\/s\s+0:06\s+1:15$/m);
  expect(text).toMatch(/^n002\s+failed\s+extract failed \(3\/10\)\s+\[######\.{14}\] 30%/m);
  expect(text).toContain('    failed in extract: AGENT_EXTRACT_FAILED: tar exited 2\n    command: tar -x (exit 2)\n    | a\n    | b\n    | tar: short read\n    what to do: check the image');
  expect(text).toContain('    session 2 of debian12 was already streaming; this node waits for session 3');
  expect(text).toMatch(/3 node\(s\): 0 installed, 1 installing, 1 waiting to install, 1 failed\n$/);
});

test('numbers that make no sense (negative, past the total, a zero total) draw a bar, not a crash', () => {
  const odd = [
    { ...base, bytes: -5, totalBytes: 100 },
    { ...base, bytes: 500, totalBytes: 100 },
    { ...base, step: 'mkfs', stepsDone: 3, stepsTotal: 0 },
  ];
  const text = renderStatus({ ...status, nodes: odd });
  expect(text).toContain('[....................]');
  expect(text).toContain('[####################]');
});

test('a conflict, and a node that netbooted again during its install, are said under it', () => {
  const text = renderStatus({ ...status, nodes: [{ ...base, conflict: 'a revoked token of this node was used from 10.78.0.66' }, { ...base, hostname: 'n009', netboots: 2 }] });
  expect(text).toContain('    CONFLICT: a revoked token of this node was used from 10.78.0.66 (rackcast node show n001)');
  expect(text).toContain('    netbooted again 2 time(s) during this install (each time with a new token)');
});
