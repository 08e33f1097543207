/**
 * Structured logging for CloudWatch Logs and for people.
 *
 * - `json`: one JSON object per line (`time`, `level`, `event`, `msg`, fields), which
 *   CloudWatch Logs Insights parses without configuration.
 * - `text`: `time level event  message  key=value…` for a terminal.
 *
 * Metrics are CloudWatch Embedded Metric Format lines in json mode (CloudWatch turns them
 * into metrics; no PutMetricData permission needed) and a readable line in text mode.
 * Every line is scrubbed of registered secrets before it is written.
 */
export type LogFormat = 'json' | 'text';
export type Level = 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface MetricValue {
  readonly name: string;
  readonly unit: 'Count' | 'Bytes' | 'Seconds' | 'Bytes/Second';
  readonly value: number;
}

export interface LoggerOptions {
  readonly format: LogFormat;
  /** Where lines go. @default process.stdout */
  readonly write?: (line: string) => void;
  /** Fields added to every JSON line (e.g. the command). */
  readonly base?: LogFields;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** Secrets shorter than this are not scrubbed (they would blank out ordinary words). */
const MIN_SECRET_LENGTH = 4;

export class Logger {
  public readonly format: LogFormat;
  private readonly write: (line: string) => void;
  private readonly base: LogFields;
  private readonly now: () => Date;
  private readonly secrets: string[] = [];

  constructor(options: LoggerOptions) {
    this.format = options.format;
    this.write = options.write ?? ((line) => process.stdout.write(line + '\n'));
    this.base = options.base ?? {};
    this.now = options.now ?? (() => new Date());
  }

  /** Registers strings (passwords, URLs holding them) that must never be printed. */
  public addSecrets(...secrets: readonly string[]): void {
    for (const s of secrets) {
      if (s.length < MIN_SECRET_LENGTH || this.secrets.includes(s)) continue;
      this.secrets.push(s);
      // A URL-encoded password may appear in connection strings.
      const encoded = encodeURIComponent(s);
      if (encoded !== s) this.secrets.push(encoded);
    }
    this.secrets.sort((a, b) => b.length - a.length);
  }

  public info(event: string, msg: string, fields: LogFields = {}): void {
    this.log('info', event, msg, fields);
  }

  public warn(event: string, msg: string, fields: LogFields = {}): void {
    this.log('warn', event, msg, fields);
  }

  public error(event: string, msg: string, fields: LogFields = {}): void {
    this.log('error', event, msg, fields);
  }

  public log(level: Level, event: string, msg: string, fields: LogFields): void {
    const time = this.now().toISOString();
    if (this.format === 'json') {
      this.emit(JSON.stringify({ time, level, event, msg, ...this.base, ...fields }));
      return;
    }
    const extras = Object.entries(fields)
      .filter(
        ([, v]) => v !== undefined && v !== null && typeof v !== 'object' && !(typeof v === 'string' && v.length > 24 && msg.includes(v)),
      )
      .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
    const lines = [`${time.slice(11, 19)} ${level.toUpperCase().padEnd(5)} ${msg}`];
    if (extras.length > 0 && level !== 'info') lines.push(`      ${extras.join(' ')}`);
    this.emit(lines.join('\n'));
  }

  /** Emits metrics with the given dimensions (Embedded Metric Format in json mode). */
  public metrics(namespace: string, dimensions: Record<string, string>, values: readonly MetricValue[]): void {
    if (this.format === 'text') {
      const shown = values.map((v) => `${v.name}=${v.value}`).join(' ');
      this.emit(`${this.now().toISOString().slice(11, 19)} INFO  metrics ${shown}`);
      return;
    }
    const doc: Record<string, unknown> = {
      _aws: {
        Timestamp: this.now().getTime(),
        CloudWatchMetrics: [
          {
            Namespace: namespace,
            Dimensions: [Object.keys(dimensions)],
            Metrics: values.map((v) => ({ Name: v.name, Unit: v.unit })),
          },
        ],
      },
      event: 'metrics',
      ...dimensions,
    };
    for (const v of values) doc[v.name] = v.value;
    this.emit(JSON.stringify(doc));
  }

  /** Scrubs registered secrets from `text`. */
  public scrub(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }

  private emit(line: string): void {
    this.write(this.scrub(line));
  }
}

/** `1.5 GiB`-style sizes for messages. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** Rows (the first is the header) as aligned columns for people; the last column is not padded. */
export function renderColumns(table: readonly (readonly string[])[]): string {
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}
