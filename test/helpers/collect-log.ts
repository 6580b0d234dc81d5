import { createLogger, formatRecord, type Logger, type LogRecord } from '../../common/log.ts';

// A logger that keeps its records, for assertions and for printing when a test fails.

export function collectingLogger(level: 'debug' | 'info' = 'debug'): { log: Logger; records: LogRecord[]; text: () => string } {
  const records: LogRecord[] = [];
  return { log: createLogger((r) => records.push(r), 'agent', level), records, text: () => records.map(formatRecord).join('\n') };
}
