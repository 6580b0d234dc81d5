import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';

// docs/errors.md lists every code the source raises, and nothing else. Codes are read from
// the source text: string literals, counter names, and the DecodeError families whose code
// is built from their arguments.

const REPO = join(import.meta.dirname, '../..');
const ROOMS = ['agent', 'bootserver', 'cast', 'contract', 'udp', 'common', 'cli'];
/** A code in quotes, or at the end of a counter name ('http.dropped.BOOT_DECODE_HTTP_URL'). */
const CODE = /(?<=['"`.])(?:(?:AGENT|BOOT|CAST|CONTRACT|UDP)_[A-Z0-9_]*[A-Z0-9]|USAGE)(?=['"`])/g;

function sources(): { file: string; text: string }[] {
  return ROOMS.flatMap((room) =>
    readdirSync(join(REPO, room), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /\.(ts|c)$/.test(e.name))
      .map((e) => ({ file: relative(REPO, join(e.parentPath, e.name)), text: readFileSync(join(e.parentPath, e.name), 'utf8') })),
  );
}

function raised(): Set<string> {
  const codes = new Set<string>();
  for (const { file, text } of sources()) {
    for (const m of text.matchAll(CODE)) codes.add(m[0]);
    const decode = file.startsWith('bootserver/') ? /new DecodeError\('([A-Z]+)', '([A-Z_]+)'/g : /new DecodeError\('([A-Z_]+)'/g;
    for (const m of text.matchAll(decode)) codes.add(file.startsWith('bootserver/') ? `BOOT_DECODE_${m[1]}_${m[2]}` : `CAST_DECODE_${m[1]}`);
  }
  return codes;
}

test('every code the source raises is in docs/errors.md, and every code there is raised', () => {
  const documented = new Set([...readFileSync(join(REPO, 'docs/errors.md'), 'utf8').matchAll(CODE)].map((m) => m[0]));
  const source = raised();
  expect(source.size).toBeGreaterThan(60);
  expect([...source].filter((c) => !documented.has(c)).sort(), 'raised but not documented').toEqual([]);
  expect([...documented].filter((c) => !source.has(c)).sort(), 'documented but raised nowhere').toEqual([]);
});
