import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.ts';
import type { NodeRecord, NodeStore } from '../state/node-store.ts';

// Who may make a call: anyone, the admin (the admin token), or a node's agent (its token,
// which names the node). Tokens travel as "Authorization: Bearer <token>".

export type Auth = 'none' | 'admin' | 'agent';

function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function requireAdmin(req: IncomingMessage, adminToken: string, tokenFile: string): void {
  const token = bearer(req);
  if (token && sameSecret(token, adminToken)) return;
  throw new ApiError(401, 'BOOT_API_UNAUTHORIZED', 'this call needs the admin token', { remedy: `pass it as "Authorization: Bearer <token>"; it is in ${tokenFile}` });
}

/** The node whose agent makes the call. */
export function requireNode(req: IncomingMessage, nodes: NodeStore): NodeRecord {
  const token = bearer(req);
  const node = token ? nodes.byToken(token) : null;
  if (!node) throw new ApiError(401, 'BOOT_API_UNAUTHORIZED', 'unknown or stale node token', { remedy: 'the node was reinstalled or reset; reboot it to get a fresh token' });
  return node;
}
