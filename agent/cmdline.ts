import { AgentError } from './errors.ts';

// The kernel parameters the boot server's iPXE script sets (docs/agent-api.md).

export interface AgentConfig {
  server: string;
  token: string;
  mode: 'install' | 'inventory';
  debug: boolean;
  /** MAC of the NIC that booted (BOOTIF=01-aa-bb-...), lowercase with colons. */
  bootif?: string;
}

/** Splits a kernel command line into key → value; a bare word maps to "". Quotes group. */
export function parseKernelParams(cmdline: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const m of cmdline.matchAll(/(?:[^\s"]+|"[^"]*")+/g)) {
    const word = m[0].replaceAll('"', '');
    const eq = word.indexOf('=');
    params.set(eq < 0 ? word : word.slice(0, eq), eq < 0 ? '' : word.slice(eq + 1));
  }
  return params;
}

/** PXELINUX/iPXE form: ARP hardware type 01, then the MAC with hyphens. */
export function parseBootif(value: string): string | undefined {
  const m = /^(?:01-)?([0-9a-f]{2}(?:[-:][0-9a-f]{2}){5})$/i.exec(value);
  return m ? m[1]!.replaceAll('-', ':').toLowerCase() : undefined;
}

export function parseAgentConfig(cmdline: string): AgentConfig {
  const p = parseKernelParams(cmdline);
  const server = p.get('rackcast.server');
  const token = p.get('rackcast.token');
  const missing = [!server && 'rackcast.server', !token && 'rackcast.token'].filter(Boolean);
  if (missing.length > 0 || !/^https?:\/\/\S+$/.test(server ?? '')) {
    throw new AgentError('AGENT_CMDLINE_INVALID', `kernel parameters: ${missing.length ? `missing ${missing.join(', ')}` : `rackcast.server=${server} is not an http(s) URL`}`, {
      details: { cmdline },
      remedy: 'boot the node through the rackcast boot server, whose iPXE script sets these parameters',
    });
  }
  const mode = p.get('rackcast.mode') === 'inventory' ? 'inventory' : 'install';
  const bootif = parseBootif(p.get('BOOTIF') ?? '');
  const debug = ['1', 'yes', 'true', ''].includes(p.get('rackcast.debug') ?? '0');
  return { server: server!, token: token!, mode, debug, ...(bootif ? { bootif } : {}) };
}
