// Batched UDP on node:dgram sockets, and the IPv4 helpers: other folders import from here only.
export { broadcastOf, inSubnet, intToIp, ipToInt, isIpv4, isMulticast, parseCidr, sameSubnet, type Subnet } from './ipv4.ts';
