// Byte sizes as people write them on a command line: 8K, 64K, 1M, 8M, 2G.
const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, KB: 1024, KIB: 1024, M: 1 << 20, MB: 1 << 20, MIB: 1 << 20, G: 1 << 30, GB: 1 << 30, GIB: 1 << 30 };

export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? UNITS[match[2].toUpperCase()] : undefined;
  if (!match || unit === undefined) throw new Error(`"${text}" is not a size (examples: 8K, 64K, 1M, 8M, 2G)`);
  const bytes = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`size "${text}" must be a positive number of bytes`);
  return bytes;
}

export function formatSize(bytes: number): string {
  if (bytes >= 1 << 30 && bytes % (1 << 30) === 0) return `${bytes / (1 << 30)}G`;
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)}M`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}K`;
  return `${bytes}B`;
}

/** A plain-text table with right-aligned numeric columns. */
export function renderTable(headers: string[], rows: (string | number)[][]): string {
  const number = (c: number): string => (Number.isInteger(c) ? String(c) : c.toFixed(c >= 100 ? 0 : 2));
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? number(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]): string => r.map((c, i) => String(c).padStart(widths[i])).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Bytes for people: 512 B, 20.5 KiB, 3.1 MiB, 2.0 GiB. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
