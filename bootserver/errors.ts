import { RackcastError, type ErrorInit } from '../common/errors.ts';

// Codes: BOOT_DECODE_* for malformed packets and requests from the network (dropped and
// counted, never fatal), BOOT_CONFIG for a bad config file, BOOT_* for failures that stop
// the server or a CLI call.

export class BootError extends RackcastError {
  constructor(code: `BOOT_${string}`, message: string, init: ErrorInit = {}) {
    super(code, message, init);
    this.name = 'BootError';
  }
}

/** A datagram or request that is not well-formed; the server drops it and counts the code. */
export class DecodeError extends BootError {
  constructor(what: 'DHCP' | 'TFTP' | 'HTTP', reason: string, message: string, details: Record<string, unknown> = {}) {
    super(`BOOT_DECODE_${what}_${reason}`, message, { details });
    this.name = 'DecodeError';
  }
}

/** A config value that is missing or not allowed: names the key, the value and what is allowed. */
export class ConfigError extends BootError {
  constructor(file: string, key: string, value: unknown, allowed: string) {
    super('BOOT_CONFIG', `${file}: ${key}: ${JSON.stringify(value)} is not valid; expected ${allowed}`, {
      details: { file, key, value, allowed },
      remedy: `fix ${key} in ${file} (see bootserver/rackcast.example.yaml)`,
    });
    this.name = 'ConfigError';
  }
}

/** An API call the server refused; `status` is the HTTP status it answers with. */
export class ApiError extends BootError {
  readonly status: number;
  constructor(status: number, code: `BOOT_API_${string}`, message: string, init: ErrorInit = {}) {
    super(code, message, init);
    this.name = 'ApiError';
    this.status = status;
  }
}

// ---- domain errors: the store, the lifecycle and the sessions throw these; only the
// HTTP layer (http/api.ts) decides which status code each one is.

export class NoSuchNodeError extends BootError {
  constructor(nodes: readonly string[]) {
    const shown = nodes.slice(0, 10).join(', ') + (nodes.length > 10 ? ` and ${nodes.length - 10} more` : '');
    super('BOOT_NO_NODE', `no such node: ${shown}`, { details: { missing: nodes }, remedy: 'list the nodes with `rackcast nodes`' });
    this.name = 'NoSuchNodeError';
  }
}

/** A phase change the node's lifecycle does not allow (docs/bootserver.md, node phases). */
export class PhaseError extends BootError {
  constructor(node: string, from: string, to: string, remedy: string) {
    super('BOOT_PHASE', `node ${node} is ${from}; it cannot become ${to}`, { details: { node, from, to }, remedy });
    this.name = 'PhaseError';
  }
}

/** A plan asked for a node that the config does not install (an inventory-mode machine). */
export class NotInstallableError extends BootError {
  constructor(mac: string, phase: string) {
    super('BOOT_NOT_INSTALLABLE', `node ${mac} is not in the config (phase ${phase})`, { details: { mac, phase }, remedy: 'add it under nodes: in rackcast.yaml and restart the server' });
    this.name = 'NotInstallableError';
  }
}

export class NoImageError extends BootError {
  constructor(hostname: string, mac: string, image: string | null) {
    super('BOOT_NO_IMAGE', `node ${hostname} has no image to install`, {
      details: { mac, image },
      remedy: 'set image: for the node, one of its groups or defaults in rackcast.yaml',
    });
    this.name = 'NoImageError';
  }
}

/** The image directory of a session is not there. */
export class ImageMissingError extends BootError {
  constructor(message: string, details: Record<string, unknown>, remedy: string) {
    super('BOOT_IMAGE_MISSING', message, { details, remedy });
    this.name = 'ImageMissingError';
  }
}

/** tar or zstd failed while a session streamed the image. */
export class ImageStreamError extends BootError {
  constructor(message: string, details: Record<string, unknown>, remedy: string) {
    super('BOOT_IMAGE_STREAM', message, { details, remedy });
    this.name = 'ImageStreamError';
  }
}

export class SessionsFullError extends BootError {
  constructor(max: number) {
    super('BOOT_SESSIONS_FULL', `${max} image sessions are already waiting or streaming`, { details: { max }, remedy: 'let running sessions end; the agent retries' });
    this.name = 'SessionsFullError';
  }
}

/** A completion report whose image is not the one this server sent (or when none was delivered). */
export class DigestMismatchError extends BootError {
  constructor(node: string, message: string) {
    super('BOOT_DIGEST_MISMATCH', `node ${node} ${message}`, { details: { node }, remedy: 'reinstall the node; if it happens again, another host may claim it (rackcast node show)' });
    this.name = 'DigestMismatchError';
  }
}
