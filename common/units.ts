import { UsageError } from './errors.ts';

// Sizes use binary suffixes (k = 1024) as udpcast's --rcvbuf does; bit rates use decimal
// suffixes (k = 1000) as udpcast's --max-bitrate does.

const SIZE_SUFFIX: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const RATE_SUFFIX: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };

function parseSuffixed(key: string, text: string, table: Record<string, number>, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b(?:ps|it)?)?\s*$/i.exec(text);
  const mult = m ? table[m[2]!.toLowerCase()] : undefined;
  if (!m || mult === undefined) throw UsageError.badValue(key, text, what);
  return Math.round(Number(m[1]) * mult);
}

export function parseSize(key: string, text: string): number {
  return parseSuffixed(key, text, SIZE_SUFFIX, 'a size like 4096, 512k or 8m');
}

export function parseBitrate(key: string, text: string): number {
  return parseSuffixed(key, text, RATE_SUFFIX, 'a bit rate like 800m or 1g (bits per second)');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Bytes per second as MB/s (10^6), the unit the benchmarks report. */
export function formatRate(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
}
