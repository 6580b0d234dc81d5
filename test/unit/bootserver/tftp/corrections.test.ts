import { execFileSync } from 'node:child_process';
import { expect, test } from 'vitest';

// In a child process: this test worker may already hold corrected prototypes.
test('importing the TFTP server changes nothing in the npm package; listen() corrects it, and correcting twice wraps nothing twice', () => {
  const dir = new URL('../../../../bootserver/tftp/', import.meta.url).href;
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire('${dir}corrections.ts');
    const writer = require('tftp/lib/protocol/server/writer.js').prototype;
    const incoming = require('tftp/lib/protocol/server/incoming-request.js').prototype;
    const request = require('tftp/lib/protocol/request.js').prototype;
    const now = () => [writer._onAck, incoming._initSocket, request._sendBlock, request._createRetransmitter];
    const same = (a, b) => a.every((f, i) => f === b[i]);
    const stock = now();
    await import('${dir}server.ts');
    const { applyTftpCorrections } = await import('${dir}corrections.ts');
    const imported = now();
    applyTftpCorrections();
    const corrected = now();
    applyTftpCorrections();
    console.log(JSON.stringify({
      untouchedByImport: same(stock, imported),
      allCorrected: corrected.every((f, i) => f !== stock[i]),
      correctedOnce: same(corrected, now()),
    }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual({ untouchedByImport: true, allCorrected: true, correctedOnce: true });
});
