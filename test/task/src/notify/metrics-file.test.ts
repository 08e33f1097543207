import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outcome } from '../../../../task/src/notify';
import {
  escapeLabelValue,
  labelsOf,
  mergeSamples,
  outcomeSamples,
  parseSamples,
  renderSamples,
  writeMetricsFile,
} from '../../../../task/src/notify/metrics-file';
import { promtoolCheck } from '../../../support/promtool';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-metrics-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const at = new Date('2026-11-24T04:03:00Z');
const backup = (database: string, exitCode = 0): Outcome => ({
  kind: 'backup',
  database,
  exitCode,
  bytes: exitCode === 0 ? 1234 : undefined,
  durationSeconds: 12.5,
  finishedAt: at,
});

describe('label values', () => {
  test('backslash, double quote and line feed are escaped, and promtool reads them back', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(labelsOf('we"ird\\db\nname} 1', 'p')).toBe('{database="we\\"ird\\\\db\\nname} 1",project="p"}');
    const text = renderSamples(outcomeSamples(backup('we"ird\\db\nname} 1'), 'p'));
    expect(promtoolCheck(text)).toEqual({ code: 0, output: '' });
    // …and this module's own parser reads the same series back (in the file's order).
    const samples = outcomeSamples(backup('we"ird\\db\nname} 1'), 'p');
    const read = parseSamples(text);
    expect(read.ignored).toBe(0);
    expect(read.samples).toHaveLength(samples.length);
    expect(read.samples).toEqual(expect.arrayContaining(samples));
  });

  test('promtool is a real judge: an unescaped quote or a missing HELP fails it', () => {
    expect(promtoolCheck('# HELP x_seconds x\n# TYPE x_seconds gauge\nx_seconds{database="a"b"} 1\n').code).not.toBe(0);
    expect(promtoolCheck('# TYPE x_seconds gauge\nx_seconds 1\n').code).not.toBe(0);
  });
});

describe('series', () => {
  test('a failure sets the attempt and exit code, and leaves the last success as it was', () => {
    const first = outcomeSamples(backup('orders'), undefined);
    const later = outcomeSamples({ ...backup('orders', 4), finishedAt: new Date(at.getTime() + 86_400_000) }, undefined);
    const merged = renderSamples(mergeSamples(first, later));
    expect(merged).toContain(`pg_s3_backup_last_success_timestamp_seconds{database="orders"} ${at.getTime() / 1000}\n`);
    expect(merged).toContain(`pg_s3_backup_last_attempt_timestamp_seconds{database="orders"} ${at.getTime() / 1000 + 86400}\n`);
    expect(merged).toContain('pg_s3_backup_last_exit_code{database="orders"} 4\n');
    expect(merged).toContain('pg_s3_backup_last_success_bytes{database="orders"} 1234\n');
    expect(promtoolCheck(merged)).toEqual({ code: 0, output: '' });
  });

  test('a drill writes its own families; every family has HELP and TYPE once', () => {
    const text = renderSamples([
      ...outcomeSamples(backup('a'), undefined),
      ...outcomeSamples(backup('b'), undefined),
      ...outcomeSamples({ ...backup('a'), kind: 'verify' }, undefined),
      ...outcomeSamples({ ...backup('b', 5), kind: 'verify' }, undefined),
    ]);
    expect(promtoolCheck(text)).toEqual({ code: 0, output: '' });
    expect(text).toContain('pg_s3_backup_drill_success{database="a"} 1\n');
    expect(text).toContain('pg_s3_backup_drill_success{database="b"} 0\n');
    expect(text.match(/^# TYPE pg_s3_backup_drill_success gauge$/gm)).toHaveLength(1);
  });
});

describe('writeMetricsFile', () => {
  test('keeps the series of other databases from the previous file, drops lines that are not its own, and leaves no temporary file', async () => {
    const path = join(dir, 'backup.prom');
    await writeMetricsFile(path, [backup('a')], undefined);
    writeFileSync(path, readFileSync(path, 'utf8') + 'something_else 1\n');
    const written = await writeMetricsFile(path, [backup('b')], undefined);
    expect(written.ignored).toBe(1);
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('pg_s3_backup_last_exit_code{database="a"} 0');
    expect(text).toContain('pg_s3_backup_last_exit_code{database="b"} 0');
    expect(text).not.toContain('something_else');
    expect(readdirSync(dir)).toEqual(['backup.prom']);
    // node_exporter runs as another user: readable whatever the umask.
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  test('writers at the same time each keep the others: the lock serialises read, merge and rename', async () => {
    const path = join(dir, 'backup.prom');
    const databases = Array.from({ length: 12 }, (_, i) => `db${i}`);
    await Promise.all(databases.map((d) => writeMetricsFile(path, [backup(d)], undefined)));
    const { samples } = parseSamples(readFileSync(path, 'utf8'));
    const named = new Set(samples.filter((s) => s.name === 'pg_s3_backup_last_exit_code').map((s) => s.labels));
    expect([...named].sort()).toEqual(databases.map((d) => `{database="${d}"}`).sort());
  });

  test('a lock left by a crashed writer is taken over once stale', async () => {
    const path = join(dir, 'backup.prom');
    writeFileSync(`${path}.lock`, '99999\n');
    const { utimesSync } = await import('node:fs');
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, old, old);
    await writeMetricsFile(path, [backup('a')], undefined);
    expect(readdirSync(dir)).toEqual(['backup.prom']);
  });
});
