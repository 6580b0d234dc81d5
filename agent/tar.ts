// GNU tar flags for the image, both ends: xattrs (file capabilities live in
// security.capability), ACLs and numeric owners must survive (agent-notes pitfall 5).
// zstd runs as tar's child (--zstd), so a corrupt frame fails tar's exit code.

export function extractArgv(source: '-' | string, target: string): string[] {
  return [
    'tar',
    '--extract',
    '--zstd',
    '--file',
    source,
    '--directory',
    target,
    '--numeric-owner',
    '--same-owner',
    '--preserve-permissions',
    '--xattrs',
    '--xattrs-include=*',
    '--acls',
  ];
}

export const EXTRACT_REMEDY = 'the image stream is not a valid tar.zst, or the target filesystem is full';
