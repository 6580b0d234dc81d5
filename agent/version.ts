// The agent's version: the build script defines __RACKCAST_AGENT_VERSION__ (package
// version + a hash of the agent's sources); running from the checkout says "source".

declare const __RACKCAST_AGENT_VERSION__: string | undefined;

export const AGENT_VERSION: string = typeof __RACKCAST_AGENT_VERSION__ === 'string' ? __RACKCAST_AGENT_VERSION__ : 'source';
