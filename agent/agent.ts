import type { Logger } from '../common/log.ts';
import { backoffDelay, DEFAULT_BACKOFF, sleep } from './backoff.ts';
import type { AgentConfig } from './cmdline.ts';
import type { AgentPaths } from './context.ts';
import type { Exec } from './exec.ts';
import { collectInventory } from './inventory.ts';
import type { Nic } from './network.ts';
import type { NextAction } from '../contract/index.ts';
import type { ReportClient } from './report-client.ts';
import { runInstall, type StepTiming } from './runner.ts';

// The agent's life on a node: network, inventory, then install attempts until one
// succeeds or the server says stop. An install that ran every step ends with the
// completion report; after it, or after a failure, the node asks the server what to do
// instead of rebooting on its own.

export interface AgentLimits {
  /** Install attempts the server may order with `retry`. */
  maxAttempts: number;
  /** How long to wait for the server to hand out a plan. */
  planWaitMs: number;
  /** How long to wait for a `next` answer other than `wait`. */
  nextWaitMs: number;
  /** Tries to bring up the boot NIC before giving up (no server to ask without it). */
  networkAttempts: number;
  /**
   * While an install runs, the server is asked this often whether it still wants it: a node
   * whose session ended without it (the server restarted) or that the admin reinstalled
   * hears `retry`, instead of waiting out its receive timeouts for a session that is gone.
   */
  retryPollMs: number;
}

export const DEFAULT_LIMITS: AgentLimits = {
  maxAttempts: 10,
  planWaitMs: 60 * 60_000,
  nextWaitMs: 24 * 60 * 60_000,
  networkAttempts: 5,
  retryPollMs: 30_000,
};

export interface AgentDeps {
  config: AgentConfig;
  log: Logger;
  client: ReportClient;
  exec: Exec;
  paths: AgentPaths;
  signal: AbortSignal;
  version: string;
  efi: boolean;
  limits: AgentLimits;
  bringUpNic: (mac: string | undefined) => Promise<Nic>;
}

async function network(deps: AgentDeps): Promise<Nic | null> {
  for (let attempt = 0; attempt < deps.limits.networkAttempts; attempt++) {
    try {
      return await deps.bringUpNic(deps.config.bootif);
    } catch (err) {
      deps.log.error('boot NIC not up', { error: (err as Error).message, attempt: attempt + 1 });
      await sleep(backoffDelay(attempt + 2, DEFAULT_BACKOFF), deps.signal);
    }
  }
  return null;
}

/** Aborts the install when the server answers `retry` to a periodic `next` (see AgentLimits.retryPollMs). */
function watchForRetry(client: ReportClient, log: Logger, everyMs: number): { signal: AbortSignal; stop: () => void } {
  const ac = new AbortController();
  const timer = setInterval(() => {
    client.askNext().then(
      (action) => {
        if (action !== 'retry' || ac.signal.aborted) return;
        log.warn('the server wants this install again (its session is gone, or the node was reinstalled): stopping this attempt');
        ac.abort(new Error('the server asked for a new attempt'));
      },
      () => {}, // the server is away: the install goes on
    );
  }, everyMs);
  return { signal: ac.signal, stop: () => clearInterval(timer) };
}

function summary(timings: StepTiming[]): string {
  return timings.map((t) => `${t.step}=${(t.durationMs / 1000).toFixed(1)}s`).join(' ');
}

/** What the node does when the agent is done, and whether the last attempt failed. */
export interface Outcome {
  action: Exclude<NextAction, 'wait' | 'retry'>;
  failed: boolean;
}

/** Runs until the server's final word; returns what the node should do now. */
export async function runAgent(deps: AgentDeps): Promise<Outcome> {
  const { log, client } = deps;
  log.info('rackcast agent starts', { version: deps.version, mode: deps.config.mode, server: deps.config.server, bootif: deps.config.bootif });
  const nic = await network(deps);
  if (!nic) return { action: 'poweroff', failed: true };
  if (deps.config.mode === 'inventory') {
    await client.sendInventory(collectInventory(deps.version));
    return { action: 'poweroff', failed: false };
  }
  for (let attempt = 1; attempt <= deps.limits.maxAttempts && !deps.signal.aborted; attempt++) {
    let raw: unknown;
    try {
      raw = await client.getPlan(deps.limits.planWaitMs, deps.signal);
    } catch (err) {
      log.error('no install plan from the server', { error: (err as Error).message });
      return { action: 'poweroff', failed: true };
    }
    // The contract's order: plan (the node is now installing), then the inventory.
    if (attempt === 1) await client.sendInventory(collectInventory(deps.version));
    let failed = false;
    const superseded = watchForRetry(client, log, deps.limits.retryPollMs);
    try {
      const signal = AbortSignal.any([deps.signal, superseded.signal]);
      const { timings, complete } = await runInstall(raw, { log, exec: deps.exec, paths: deps.paths, reporter: client, signal, arch: process.arch, efi: deps.efi, nic });
      log.info('install finished', { attempt, totalMs: complete.durationMs, steps: summary(timings) });
      // Only this report makes the node installed; its step reports go first.
      await client.reportComplete(complete);
    } catch (err) {
      failed = true;
      log.error('install failed; waiting for the server (retry or power off)', { attempt, error: (err as Error).message });
    } finally {
      superseded.stop();
    }
    const action = await client.waitForNext(deps.limits.nextWaitMs, deps.signal);
    log.info('server says', { next: action });
    if (action !== 'retry' && action !== 'wait') return { action, failed };
  }
  log.error('too many install attempts; powering off', { maxAttempts: deps.limits.maxAttempts });
  return { action: 'poweroff', failed: true };
}
