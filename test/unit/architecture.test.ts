import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { expect, test } from 'vitest';

// The rooms of the tree and who may import whom (docs/architecture.md). Read from the
// imports themselves, so a shortcut through another room's private file fails here.

const REPO = join(import.meta.dirname, '../..');

/** Rooms with one entry point: from outside, only their index.ts may be imported. */
const ENTRY_ROOMS = ['agent', 'bootserver', 'cast', 'contract', 'udp'];
/** What each room may import besides itself and common/ (the shared helpers every room uses). */
const MAY_IMPORT: Record<string, string[]> = {
  contract: [],
  udp: [],
  cast: ['udp'],
  agent: ['contract', 'cast', 'udp'],
  bootserver: ['contract', 'cast', 'udp'],
  cli: ['bootserver', 'cast'],
  common: [],
  scripts: ['agent', 'bootserver', 'cast', 'contract', 'udp'],
};

function sourceFiles(dir: string): string[] {
  if (!existsSync(join(REPO, dir))) return [];
  return readdirSync(join(REPO, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(REPO, join(e.parentPath, e.name)));
}

function imports(file: string): string[] {
  const text = readFileSync(join(REPO, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => normalize(join(dirname(file), s)));
}

const roomOf = (path: string) => path.split('/')[0]!;

const edges = Object.keys(MAY_IMPORT).flatMap((room) => sourceFiles(room).flatMap((file) => imports(file).map((target) => ({ file, target }))));

test('the tree is read: every room has files and imports', () => {
  for (const room of Object.keys(MAY_IMPORT)) expect(sourceFiles(room).length, room).toBeGreaterThan(0);
  expect(edges.length).toBeGreaterThan(200);
});

test('a room imports only the rooms it may: agent and bootserver never each other, contract and udp nothing of ours', () => {
  const bad = edges.filter(({ file, target }) => {
    const from = roomOf(file);
    const to = roomOf(target);
    return from !== to && to !== 'common' && !MAY_IMPORT[from]!.includes(to);
  });
  expect(bad.map((e) => `${e.file} -> ${e.target}`)).toEqual([]);
});

test('from another room, only a room\'s index.ts is imported', () => {
  const bad = edges.filter(({ file, target }) => roomOf(file) !== roomOf(target) && ENTRY_ROOMS.includes(roomOf(target)) && target !== `${roomOf(target)}/index.ts`);
  expect(bad.map((e) => `${e.file} -> ${e.target}`)).toEqual([]);
});

test('every import names a file that exists', () => {
  const missing = edges.filter(({ target }) => !existsSync(join(REPO, target)));
  expect(missing.map((e) => `${e.file} -> ${e.target}`)).toEqual([]);
});
