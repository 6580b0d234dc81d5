// Types for the parts of the npm `tftp` package (0.1.2, untyped CommonJS) that rackcast
// uses: the server API, and the internals that corrections.ts corrects.

declare module 'tftp' {
  import type { EventEmitter } from 'node:events';
  import type { Readable, Writable } from 'node:stream';
  export interface TransferStats {
    blockSize: number;
    windowSize: number;
    size: number | null;
    userExtensions: Record<string, string>;
    retries: number;
    timeout: number;
    localAddress: string;
    localPort: number;
    remoteAddress: string;
    remotePort: number;
  }
  export interface GetRequest extends Readable {
    method: 'GET' | 'PUT';
    file: string;
    stats: TransferStats;
    abort(error?: string): void;
  }
  export interface PutResponse extends Writable {
    setSize(size: number): void;
  }
  export interface ServerOptions {
    host?: string;
    port?: number;
    root?: string;
    denyGET?: boolean;
    denyPUT?: boolean;
    blockSize?: number;
    windowSize?: number;
    timeout?: number;
    retries?: number;
  }
  export interface Server extends EventEmitter {
    host: string;
    port: number;
    listen(): void;
    close(): void;
  }
  const tftp: {
    createServer(options: ServerOptions, listener: (req: GetRequest, res: PutResponse) => void): Server;
    ENOENT: string;
    EACCESS: string;
    EIO: string;
  };
  export default tftp;
}

declare module 'tftp/lib/protocol/server/writer.js' {
  const ServerWriter: { prototype: Record<PropertyKey, unknown> };
  export default ServerWriter;
}

declare module 'tftp/lib/protocol/server/incoming-request.js' {
  const IncomingRequest: { prototype: Record<string, unknown> };
  export default IncomingRequest;
}

declare module 'tftp/lib/protocol/request.js' {
  const Request: { prototype: Record<string, unknown> };
  export default Request;
}
