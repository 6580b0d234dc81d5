// Library code never prints: it takes a scoped Logger. The CLI decides where lines go
// (stderr text, or JSON lines with --json); tests pass a collecting logger.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface LogRecord {
  level: LogLevel;
  scope: string;
  msg: string;
  fields: LogFields;
  time: number;
}

export type LogSink = (record: LogRecord) => void;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(scope: string): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(sink: LogSink, scope = 'rackcast', minLevel: LogLevel = 'info'): Logger {
  const emit = (level: LogLevel, msg: string, fields: LogFields = {}) => {
    if (ORDER[level] >= ORDER[minLevel]) sink({ level, scope, msg, fields, time: Date.now() });
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (sub) => createLogger(sink, `${scope}:${sub}`, minLevel),
  };
}

export const silentLogger: Logger = createLogger(() => {}, 'silent', 'error');

/** One human-readable line: "12:00:01 warn cast:sender receiver dropped ip=10.0.0.5". */
export function formatRecord(r: LogRecord): string {
  const t = new Date(r.time).toISOString().slice(11, 19);
  const extra = Object.entries(r.fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${r.level} ${r.scope} ${r.msg}${extra ? ' ' + extra : ''}`;
}
