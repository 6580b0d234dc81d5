import type dgram from 'node:dgram';

// The addon works on the fd of a socket that dgram opened and configured. dgram keeps it on
// its libuv handle, behind a private symbol (Node's lib/internal/dgram.js, kStateSymbol).
// This is the one place that reaches for it: a Node that moves it costs batched I/O (callers
// fall back to plain dgram), nothing else.

/** A bound dgram socket's fd, as the addon takes it. */
export interface SocketFd {
  fd: number;
  /** Stops dgram's own reads on the fd, so that they do not race a batch reader for the datagrams. */
  stopDgramReads(): void;
}

interface UdpHandle {
  fd: number;
  recvStop(): number;
}

/** Null when the socket does not show its handle where Node 24 keeps it, or is not bound yet. */
export function socketFd(sock: dgram.Socket): SocketFd | null {
  const state = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const handle = state && (sock as unknown as Record<symbol, { handle?: Partial<UdpHandle> } | undefined>)[state]?.handle;
  if (!handle || typeof handle.fd !== 'number' || handle.fd < 0 || typeof handle.recvStop !== 'function') return null;
  const h = handle as UdpHandle;
  return { fd: h.fd, stopDgramReads: () => void h.recvStop() };
}
