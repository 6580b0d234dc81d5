import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

// A stand-in for the boot server's agent API (docs/agent-api.md) for agent tests in a
// network namespace: serves one plan, answers `next` from a list (the last answer
// repeats), and appends every call as a JSON line to the events file the test reads.
// usage: node test/helpers/fake-bootserver.ts --port P --token T --plan plan.json --events out.jsonl [--next retry,poweroff]

const { values: o } = parseArgs({
  options: { port: { type: 'string' }, token: { type: 'string' }, plan: { type: 'string' }, events: { type: 'string' }, next: { type: 'string', default: 'reboot' } },
});
const plan = readFileSync(o.plan!, 'utf8');
const answers = o.next!.split(',');

createServer((req, res) => {
  let body = '';
  req.on('data', (d: Buffer) => (body += d));
  req.on('end', () => {
    const ok = req.headers.authorization === `Bearer ${o.token}`;
    appendFileSync(o.events!, JSON.stringify({ method: req.method, path: req.url, ok, body: body ? JSON.parse(body) : null }) + '\n');
    const reply = (status: number, json: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(json);
    if (!ok) return reply(401, '{"error":"bad token"}');
    if (req.url === '/api/v1/agent/plan') return reply(200, plan);
    if (req.url === '/api/v1/agent/next') return reply(200, JSON.stringify({ action: answers.length > 1 ? answers.shift() : answers[0] }));
    return reply(200, '{}');
  });
}).listen(Number(o.port), '0.0.0.0', () => process.stdout.write('listening\n'));
