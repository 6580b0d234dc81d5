import type { ApiErrorBody } from '../api-types.ts';
import { BootError } from '../errors.ts';

// The CLI's side of the JSON API: one request, JSON in and out, the server's coded error
// turned back into a BootError with its remedy.

export class ApiClient {
  private readonly base: string;
  private readonly token: string | undefined;

  constructor(base: string, token?: string) {
    this.base = base.replace(/\/+$/, '');
    this.token = token;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.base}/api/v1${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new BootError('BOOT_SERVER_UNREACHABLE', `cannot reach the boot server at ${this.base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, {
        cause: err,
        details: { url },
        remedy: 'start it with `rackcast serve`, or point --server (or RACKCAST_SERVER) at it',
      });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new BootError('BOOT_SERVER_REPLY', `${method} ${url}: HTTP ${res.status} with a non-JSON body`, { details: { status: res.status, body: text.slice(0, 200) } });
    }
    if (!res.ok) {
      const e = (json as ApiErrorBody).error;
      throw new BootError(e?.code?.startsWith('BOOT_') ? (e.code as `BOOT_${string}`) : 'BOOT_SERVER_REPLY', e?.message ?? `HTTP ${res.status}`, {
        details: { status: res.status, ...(e?.details ?? {}) },
        ...(e?.remedy ? { remedy: e.remedy } : {}),
      });
    }
    return json as T;
  }
}
