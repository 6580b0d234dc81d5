// The boot server's public surface: other folders import from here only.
export type { InstallStatus, NodeDetail, NodePhase, NodeSummary } from './api-types.ts';
export { nodeCommand, nodesCommand, statusCommand } from './admin/commands.ts';
export { serveCommand } from './serve.ts';
export { loadConfig, parseConfig, type BootConfig } from './config.ts';
export { BootServer, type BootServerOptions } from './server.ts';
// The DHCP codec, for the lab's DHCP clients (scripts/lab).
export { decodeDhcp, encodePacket, formatDhcp, FLAG_BROADCAST, MessageType, type DhcpPacket } from './dhcp/packet.ts';
