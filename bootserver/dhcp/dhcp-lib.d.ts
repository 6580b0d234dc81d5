// Types for the parts of the npm `dhcp` package (0.2.20, untyped CommonJS) that rackcast
// uses: its option table, the typed readers/writers of SeqBuffer and Protocol.format.

declare module 'dhcp' {
  export interface OptionSpec {
    name: string;
    type: string;
    config?: string;
    attr?: string;
  }
  const dhcp: { addOption(code: number, spec: OptionSpec): void };
  export default dhcp;
}

declare module 'dhcp/lib/options.js' {
  import type { OptionSpec } from 'dhcp';
  const options: { opts: Record<number, OptionSpec | undefined> };
  export default options;
}

declare module 'dhcp/lib/seqbuffer.js' {
  class SeqBuffer {
    constructor(buf?: Buffer, len?: number);
    _data: Buffer;
    _r: number;
    _w: number;
    [getter: `get${string}`]: (len: number) => unknown;
    getUInt8(): number;
    getUInt16(): number;
    getUInt32(): number;
    getIP(): string;
    getUTF8(len: number): string;
    getHex(len: number): string;
  }
  export default SeqBuffer;
}

declare module 'dhcp/lib/protocol.js' {
  import type SeqBuffer from 'dhcp/lib/seqbuffer.js';
  export interface FormatInput {
    op: number;
    htype: number;
    hlen: number;
    hops: number;
    xid: number;
    secs: number;
    flags: number;
    ciaddr: string;
    yiaddr: string;
    siaddr: string;
    giaddr: string;
    chaddr: string;
    sname: string;
    file: string;
    options: Record<number, unknown>;
  }
  const protocol: { format(data: FormatInput): SeqBuffer };
  export default protocol;
}
