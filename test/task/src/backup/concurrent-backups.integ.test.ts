/**
 * Backups of one database that choose the same key, on a store that ignores `If-None-Match`
 * (s3rver, as some S3-compatible stores do): the CLI itself must keep at most one of them
 * complete and leave that one consistent. The proxy in front of s3rver only orders requests
 * (it holds one until another has arrived) and lets a test write to the store at an exact
 * moment, as a second writer would; every object and answer is s3rver's.
 * test/task/src/storage/strict-s3.integ.test.ts runs the same races against moto, which enforces the header.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { loadSampleApp } from '../../../support/postgres/fingerprint';
import { BackupTestEnv, createBulkDatabase, startBackupTestEnv } from '../../../support/backup-env';
import { CliRun, eventOf, runCli } from '../../../support/cli';
import { keyOfRequest, roomInThisMinute, until } from '../../../support/timing';

let env: BackupTestEnv;

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('app');
  await loadSampleApp(env.pg, 'app');
  // Big enough for several 5 MiB parts, so that the dump is a multipart upload whose completion can be held.
  await createBulkDatabase(env.pg, 'bulk', 20);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

beforeEach(() => env.proxy.clear());

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const listedPrefix = (url: string) => new URL(url, 'http://x').searchParams.get('prefix') ?? '';

/** Writes straight to s3rver (not through the proxy), as another writer would. */
async function writeDirectly(key: string, body: string): Promise<void> {
  await env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: key, Body: body }));
}

function expectSameKeyFailure(run: CliRun, pattern: RegExp): void {
  const failed = eventOf(run, 'backup.failed');
  expect({ code: run.code, stage: failed.stage }).toEqual({ code: 5, stage: 'manifest' });
  expect(String(failed.cause)).toMatch(
    /Another writer used the same key .*does not enforce If-None-Match.*This run's backup is not complete/s,
  );
  expect(String(failed.cause)).toMatch(pattern);
}

async function verifyKey(key: string, prefix: string): Promise<CliRun> {
  return runCli(['verify', '--key', key], { ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: prefix });
}

describe('backups of one database in the same minute, on a store that ignores If-None-Match', () => {
  test('both dumps land on one key: at most one run reports complete, and the backup it reports verifies', async () => {
    // GIVEN two runs of one database in one minute, the second a second later (pg_dump stamps
    // its archive to the second: the dumps differ in content, not in size), that both list
    // before either completes its dump. The proxy orders them: the first run's completion
    // waits until the second's arrives; the second's waits until the first run checks its
    // size (its completion answered); that check waits until the second run's own size check
    // (the second dump landed). So both dumps land, the second last.
    const prefix = 'race';
    let completions = 0;
    let sizeChecks = 0;
    env.proxy.addRule((req) => {
      if (req.operation === 'CompleteMultipartUpload') {
        completions++;
        return completions === 1
          ? { kind: 'forward', waitFor: () => until(() => completions >= 2, 'the second completion') }
          : { kind: 'forward', waitFor: () => until(() => sizeChecks >= 1, "the first run's size check") };
      }
      if (req.operation === 'ListObjectsV2' && completions >= 2 && listedPrefix(req.url).endsWith('.dump')) {
        sizeChecks++;
        if (sizeChecks === 1) return { kind: 'forward', waitFor: () => until(() => sizeChecks >= 2, "the second run's size check") };
      }
      return undefined;
    });
    await roomInThisMinute(30);
    const args = ['backup', '--part-size-mib', '5', '--compress', '0'];
    const first = runCli(args, env.cliEnv('bulk', prefix));
    await until(() => env.proxy.count('UploadPart') >= 1, 'the first run uploading');
    await new Promise((r) => setTimeout(r, 1100));
    const second = runCli(args, env.cliEnv('bulk', prefix));
    // WHEN both finish
    const runs = await Promise.all([first, second]);
    // THEN they chose one key, and at most one says complete
    const keys = runs.map((r) => String(eventOf(r, 'backup.start').key));
    expect(keys[1]).toBe(keys[0]);
    const ok = runs.filter((r) => r.code === 0);
    expect(runs.map((r) => r.code).sort()).toEqual([0, 5]);
    // The run whose dump was replaced says so, and wrote no manifest.
    expectSameKeyFailure(
      runs.find((r) => r.code !== 0)!,
      /\.dump is not this run's.*wrote no manifest/s,
    );
    // AND the backup the other run reports is the one stored, whole.
    const verified = await verifyKey(keys[0], prefix);
    expect(verified.code).toBe(0);
    expect(eventOf(verified, 'verify.ok').sha256).toBe(eventOf(ok[0], 'backup.complete').sha256);
  });

  test('a run that chose a key another run has since completed writes nothing there (as S3 would refuse with 412)', async () => {
    // GIVEN a complete backup
    const prefix = 'late';
    await roomInThisMinute(20);
    // (multipart: the refused write is the CompleteMultipartUpload that would create the object)
    const args = ['backup', '--part-size-mib', '5', '--compress', '0'];
    const earlier = await runCli(args, env.cliEnv('bulk', prefix));
    expect(earlier.code).toBe(0);
    const key = String(eventOf(earlier, 'backup.complete').key);
    const before = await env.get(key);
    // AND a second run that listed before it existed: its planning listing comes back empty
    env.proxy.clear();
    env.proxy.addRule((req, n) =>
      req.operation === 'ListObjectsV2' && n === 1
        ? {
            kind: 'forward',
            rewriteBody: (xml) => xml.replace(/<Contents>[\s\S]*?<\/Contents>/g, '').replace(/<KeyCount>\d+</, '<KeyCount>0<'),
          }
        : undefined,
    );
    // WHEN it runs
    const late = await runCli(args, env.cliEnv('bulk', prefix));
    // THEN it chose the same key, found it taken just before writing, and wrote nothing
    expect(String(eventOf(late, 'backup.start').key)).toBe(key);
    const failed = eventOf(late, 'backup.failed');
    expect({ code: late.code, stage: failed.stage }).toEqual({ code: 4, stage: 'upload' });
    expect(String(failed.cause)).toMatch(
      /Uploading the dump \(CompleteMultipartUpload\) failed.*already exists .*nothing was written there.*Another writer created an object at this key.*Run the backup again/s,
    );
    expect(env.proxy.count('CompleteMultipartUpload')).toBe(0);
    expect(sha256(await env.get(key))).toBe(sha256(before));
    expect((await verifyKey(key, prefix)).code).toBe(0);
  });

  test('another dump lands on the key between the dump and the manifest: exit 5, and the run does not report complete', async () => {
    const prefix = 'dump-replaced';
    // The other writer's dump reaches the store just before this run's manifest does.
    env.proxy.addRule((req) =>
      req.operation === 'PutObject' && req.url.includes('.manifest.json')
        ? {
            kind: 'forward',
            waitFor: () => writeDirectly(keyOfRequest(req.url).replace(/\.manifest\.json$/, '.dump'), "another run's dump"),
          }
        : undefined,
    );
    const run = await runCli(['backup'], env.cliEnv('app', prefix));
    expectSameKeyFailure(run, /\.dump is not this run's \(ETag \w+, 18 bytes; this run wrote ETag \w+, \d+ bytes\)/);
    expect(run.events.some((e) => e.event === 'backup.complete')).toBe(false);
  });

  test('another manifest lands on the key after this run wrote its own: exit 5, and the run does not report complete', async () => {
    const prefix = 'manifest-replaced';
    // After this run's manifest, its next listing (the check) waits until another writer's manifest has replaced it.
    env.proxy.addRule((req) => {
      const manifest = env.proxy.seen.find((r) => r.operation === 'PutObject' && r.url.includes('.manifest.json'));
      return req.operation === 'ListObjectsV2' && manifest
        ? { kind: 'forward', waitFor: () => writeDirectly(keyOfRequest(manifest.url), '{"another":"run"}') }
        : undefined;
    });
    const run = await runCli(['backup'], env.cliEnv('app', prefix));
    expectSameKeyFailure(run, /\.manifest\.json is not this run's/);
    expect(run.events.some((e) => e.event === 'backup.complete')).toBe(false);
  });
});
