// GNU tar flags of the image stream, for both ends: the server creates the tar of an image
// directory, the agent extracts it. Numeric owners, xattrs (file capabilities live in
// security.capability) and ACLs must survive the trip, so both sides take them from here.

const PRESERVED = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls'] as const;

/** tar's arguments (after argv[0]) to write `dir` as an uncompressed tar on stdout. */
export function tarCreateArgs(dir: string): string[] {
  return ['--create', '--file=-', ...PRESERVED, '--sparse', '-C', dir, '.'];
}

/**
 * The argv that extracts a tar.zst from `source` ("-": stdin) into `target`. zstd runs as
 * tar's child (--zstd), so a corrupt frame fails tar's exit code.
 */
export function tarExtractArgv(source: '-' | string, target: string): string[] {
  return ['tar', '--extract', '--zstd', '--file', source, '--directory', target, '--same-owner', '--preserve-permissions', ...PRESERVED];
}
