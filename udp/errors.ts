import { RackcastError, type ErrorInit } from '../common/errors.ts';

// Codes: UDP_ADDON_LOAD when the built addon will not load (callers then keep plain dgram),
// UDP_SEND / UDP_RECEIVE when a batched system call fails (its datagrams are lost, as a
// failed dgram send's are, and the protocol above recovers them). The addon itself throws
// plain errors with code UDP_ADDON (bad arguments: a bug in udp/) and UDP_ADDON_STOPPED (a
// stopped reader's handle used again).

export class UdpError extends RackcastError {
  constructor(code: `UDP_${string}`, message: string, init: ErrorInit = {}) {
    super(code, message, init);
    this.name = 'UdpError';
  }
}
