import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/log.ts';
import { AgentError, checkResult } from './errors.ts';
import type { Exec } from './exec.ts';
import { UDHCPC_SCRIPT } from './initrd-paths.ts';
import { listNics } from './inventory.ts';

// Brings up the NIC the node booted from (BOOTIF) with DHCP from busybox udhcpc, whose
// hook script (initrd/udhcpc.script) sets the address, route and resolver. The
// installer always uses DHCP: the same server answered the PXE boot a minute ago.
// plan.network is for the installed system (steps/identity.ts).

/** NIC drivers load in /init; the boot NIC may show up a moment later. */
const NIC_WAIT_MS = 15_000;

export interface Nic {
  name: string;
  mac: string;
}

function ipv4Of(name: string): string | undefined {
  return os.networkInterfaces()[name]?.find((a) => a.family === 'IPv4')?.address;
}

async function findNic(mac: string | undefined, log: Logger): Promise<Nic> {
  const deadline = Date.now() + NIC_WAIT_MS;
  for (;;) {
    const nics = listNics();
    const nic = mac ? nics.find((n) => n.mac.toLowerCase() === mac) : nics[0];
    if (nic) return { name: nic.name, mac: nic.mac.toLowerCase() };
    if (Date.now() > deadline) {
      throw new AgentError('AGENT_NETWORK_FAILED', mac ? `no NIC with MAC ${mac} (BOOTIF)` : 'no NIC found', {
        details: { mac, seen: nics.map((n) => `${n.name}=${n.mac}`) },
        remedy: 'the initrd may lack the driver for this NIC: add its module to initrd/modules.txt',
      });
    }
    log.debug('waiting for the boot NIC', { mac });
    await sleep(250);
  }
}

/** The boot NIC, up and with an IPv4 address (kept if it already has one). */
export async function bringUpNic(mac: string | undefined, exec: Exec, log: Logger): Promise<Nic> {
  const nic = await findNic(mac, log);
  if (ipv4Of(nic.name)) {
    log.info('boot NIC already configured', { nic: nic.name, address: ipv4Of(nic.name) });
    return nic;
  }
  const fail = 'check that the boot server answers DHCP on this segment';
  checkResult(await exec(['ip', 'link', 'set', 'dev', nic.name, 'up']), 'AGENT_NETWORK_FAILED', 'network', fail);
  checkResult(
    await exec(['udhcpc', '-i', nic.name, '-s', UDHCPC_SCRIPT, '-f', '-q', '-n', '-t', '10', '-T', '2'], { timeoutMs: 60_000 }),
    'AGENT_NETWORK_FAILED',
    'network',
    fail,
  );
  log.info('boot NIC up', { nic: nic.name, mac: nic.mac, address: ipv4Of(nic.name) });
  return nic;
}
