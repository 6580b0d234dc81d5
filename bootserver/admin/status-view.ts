import { formatBytes, formatRate } from '../../common/units.ts';
import type { InstallStatus, NodeProgress, SessionInfo } from '../api-types.ts';

// The text of `rackcast status`: sessions first, then one line per node with a progress
// bar, and under a failed node its reason, the command and the last lines it printed.

const BAR = 20;

export function renderStatus(s: InstallStatus): string {
  const lines = s.sessions.filter((x) => x.state === 'waiting' || x.state === 'streaming' || Date.now() - Date.parse(x.createdAt) < 3600_000).map(sessionLine);
  const rows = s.nodes.map((n) => [n.hostname ?? n.mac, n.phase, stepText(n), bar(n), n.rateBytesPerSec ? formatRate(n.rateBytesPerSec) : '', n.etaSec !== null ? clock(n.etaSec) : '', n.elapsedSec !== null ? clock(n.elapsedSec) : '']);
  const head = ['NODE', 'PHASE', 'STEP', 'PROGRESS', 'RATE', 'ETA', 'ELAPSED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [...lines, ...(lines.length ? [''] : []), fmt(head)];
  s.nodes.forEach((n, i) => {
    out.push(fmt(rows[i]!));
    if (n.conflict) out.push(`    CONFLICT: ${n.conflict} (rackcast node show ${n.hostname ?? n.mac})`);
    else if (n.netboots > 0) out.push(`    netbooted again ${n.netboots} time(s) during this install (each time with a new token)`);
    if (n.failure) out.push(...failureLines(n.failure));
    else if (n.note) out.push(`    ${n.note}`);
  });
  const count = (p: string) => s.nodes.filter((n) => n.phase === p).length;
  out.push('', `${s.nodes.length} node(s): ${count('installed')} installed, ${count('installing')} installing, ${count('install')} waiting to install, ${count('failed')} failed`);
  return out.join('\n') + '\n';
}

function sessionLine(x: SessionInfo): string {
  const size = x.estimatedBytes !== null ? ` of ${x.state === 'done' ? '' : '~'}${formatBytes(x.estimatedBytes)}` : '';
  const what = x.state === 'waiting' ? `waiting for ${x.minReceivers} node(s), ${x.joined} joined` : `${x.joined} node(s), ${formatBytes(x.bytes)}${size}${x.state === 'streaming' ? `, ${formatRate(x.rateBytesPerSec)}` : ''}`;
  return `session ${x.id}  ${x.image}  ${x.state}  ${what}  (ports ${x.portbase}-${x.portbase + 1})${x.error ? `: ${x.error}` : ''}`;
}

function stepText(n: NodeProgress): string {
  if (!n.step) return '-';
  return `${n.step}${n.stepStatus === 'running' ? '' : ` ${n.stepStatus}`} (${n.stepsDone}/${n.stepsTotal})`;
}

/** The stream while receiving, the step count otherwise. */
function bar(n: NodeProgress): string {
  const streaming = n.step === 'receive' && n.bytes !== null;
  const raw = n.phase === 'installed' ? 1 : streaming && n.totalBytes ? n.bytes! / n.totalBytes : n.stepsDone / n.stepsTotal;
  // Whatever a server of another version sends, the bar stays a bar.
  const fraction = Number.isFinite(raw) ? Math.min(1, Math.max(0, raw)) : 0;
  const filled = Math.round(fraction * BAR);
  const text = streaming ? ` ${formatBytes(n.bytes!)}${n.totalBytes ? ` / ${formatBytes(n.totalBytes)}` : ''}` : ` ${Math.round(fraction * 100)}%`;
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}]${text}`;
}

function failureLines(f: NonNullable<NodeProgress['failure']>): string[] {
  const out = [`    failed${f.step ? ` in ${f.step}` : ''}: ${f.code ? `${f.code}: ` : ''}${f.message}`];
  if (f.command) out.push(`    command: ${f.command.join(' ')}${f.exitCode !== undefined ? ` (exit ${f.exitCode})` : ''}`);
  if (f.outputTail) out.push(...f.outputTail.trimEnd().split('\n').slice(-3).map((l) => `    | ${l}`));
  if (f.remedy) out.push(`    what to do: ${f.remedy}`);
  return out;
}

function clock(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = String(sec % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
