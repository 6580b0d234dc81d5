// Batched UDP on node:dgram sockets (native/mmsg.c: sendmmsg, recvmmsg, UDP GSO, busy-poll)
// and the IPv4 helpers: other folders import from here only.
export { MMSG_ABSENT, MMSG_ASSET, mmsgAddon, mmsgLoadError, unbatchedReason, type BatchIo } from './addon.ts';
export { BatchReader, type BatchHandlers, type Peer, type ReaderStats } from './batch-reader.ts';
export { BatchWriter, type Overflow } from './batch-writer.ts';
export { UdpError } from './errors.ts';
export { broadcastOf, inSubnet, intToIp, ipToInt, isIpv4, isMulticast, parseCidr, sameSubnet, type Subnet } from './ipv4.ts';
export { mmsgSelfCheck } from './self-check.ts';
