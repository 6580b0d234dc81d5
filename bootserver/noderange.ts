// xCAT-style node ranges: "n[001-288]", "r1n[01-10],r2n[01-10]", "n005", and MACs.
// A range keeps the zero padding of its bounds; a comma separates items.

const MAX_EXPANDED = 100_000;

/** Expands a selector into the names it stands for, in order, without duplicates. */
export function expandNodeRange(selector: string): string[] {
  const out: string[] = [];
  for (const item of splitTopLevel(selector)) {
    for (const name of expandItem(item.trim())) if (!out.includes(name)) out.push(name);
    if (out.length > MAX_EXPANDED) throw new RangeError(`node range "${selector}" expands to more than ${MAX_EXPANDED} names`);
  }
  return out;
}

/** Commas outside brackets separate items ("n[1-3,7],m1" has two). */
function splitTopLevel(s: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '[') depth++;
    else if (s[i] === ']') depth--;
    else if (s[i] === ',' && depth === 0) {
      items.push(s.slice(start, i));
      start = i + 1;
    }
    if (depth < 0) throw new RangeError(`unbalanced "]" in node range "${s}"`);
  }
  if (depth !== 0) throw new RangeError(`unbalanced "[" in node range "${s}"`);
  items.push(s.slice(start));
  return items.filter((x) => x.trim() !== '');
}

function expandItem(item: string): string[] {
  const open = item.indexOf('[');
  if (open < 0) return [item];
  const close = item.indexOf(']', open);
  const prefix = item.slice(0, open);
  const rest = expandItem(item.slice(close + 1));
  const values: string[] = [];
  for (const part of item.slice(open + 1, close).split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new RangeError(`"${part}" in "${item}" is not a number or a range like 001-288`);
    const [lo, hi] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (hi < lo) throw new RangeError(`range ${part} in "${item}" runs backwards`);
    if (hi - lo > MAX_EXPANDED) throw new RangeError(`range ${part} in "${item}" is too large`);
    const width = m[1]!.length;
    for (let n = lo; n <= hi; n++) values.push(String(n).padStart(width, '0'));
  }
  return values.flatMap((v) => rest.map((r) => prefix + v + r));
}
