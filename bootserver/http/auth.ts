import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.ts';
import type { Lifecycle } from '../install/lifecycle.ts';
import type { NodeRecord } from '../state/node-store.ts';

// Who may make a call: the admin (the admin token), a reader (the read token, or the admin
// token), or a node's agent (its token, which names the node). Only what firmware fetches
// (scripts, installer files, first stages) needs none. Tokens travel as
// "Authorization: Bearer <token>".

export type Auth = 'read' | 'admin' | 'agent';

export interface ServerTokens {
  admin: string;
  read: string;
}

function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Admin calls need the admin token; reads either token. */
export function requireToken(req: IncomingMessage, auth: 'read' | 'admin', tokens: ServerTokens, files: { admin: string; read: string }): void {
  const token = bearer(req);
  if (token && (sameSecret(token, tokens.admin) || (auth === 'read' && sameSecret(token, tokens.read)))) return;
  throw new ApiError(401, 'BOOT_API_UNAUTHORIZED', `this call needs the ${auth === 'read' ? 'read or the admin' : 'admin'} token`, {
    remedy: `pass it as "Authorization: Bearer <token>" (rackcast --token); the admin token is in ${files.admin}${auth === 'read' ? `, the read token in ${files.read}` : ''}`,
  });
}

/**
 * The node whose agent makes the call. A revoked token (the node's script was fetched again
 * since) is a second claimant, which the lifecycle records; a token whose install completed
 * may only ask what to do next (`mayAfterCompletion`).
 */
export function requireNode(req: IncomingMessage, lifecycle: Lifecycle, mayAfterCompletion: boolean): NodeRecord {
  const token = bearer(req);
  const address = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const node = token ? lifecycle.store.byToken(token) : null;
  if (!node) {
    const revoked = token ? lifecycle.store.byRevokedToken(token) : null;
    if (revoked) lifecycle.revokedTokenUsed(revoked, address);
    throw new ApiError(401, 'BOOT_API_UNAUTHORIZED', revoked ? 'this node token was revoked: the node netbooted again since' : 'unknown or stale node token', {
      remedy: revoked ? 'if this host is the node, reboot it; if it is not, another host holds its token: see `rackcast node show`' : 'the node was reinstalled or reset; reboot it to get a fresh token',
    });
  }
  if (node.tokenScope === 'done' && !mayAfterCompletion) throw new ApiError(401, 'BOOT_API_UNAUTHORIZED', 'this install is complete; its token may only ask what to do next', { remedy: 'reinstall the node to install it again' });
  lifecycle.agentCalled(node, address);
  return node;
}
