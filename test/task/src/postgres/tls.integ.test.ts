/**
 * TLS as production uses it: the stack's default `sslmode=require`, and `verify-full` with a CA
 * bundle (PGSSLROOTCERT; in the image, Amazon RDS's). The server presents a certificate for
 * 127.0.0.1 signed by a throwaway test CA; a client given another CA must fail clearly.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { diffFingerprints, fingerprintDatabase, loadSampleApp } from '../../../support/postgres/fingerprint';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;
let dir: string;
const PREFIX = 'tls';

/** A CA, and a server key pair it signed for 127.0.0.1 and localhost; and an unrelated CA. */
function makeCertificates(): { ca: string; otherCa: string; cert: string; key: string } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  for (const name of ['ca', 'other-ca'])
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=pg-s3-backup ${name}`,
      '-days',
      '1',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
    );
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'server.crt',
  );
  chmodSync(join(dir, 'server.key'), 0o600);
  // The server runs as `postgres` when the tests run as root (initdb refuses root): it must own its key.
  if (userInfo().uid === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    for (const f of ['server.key', 'server.crt']) chownSync(join(dir, f), uid, uid);
  }
  return { ca: join(dir, 'ca.crt'), otherCa: join(dir, 'other-ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

let certs: ReturnType<typeof makeCertificates>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-tls-'));
  chmodSync(dir, 0o755);
  certs = makeCertificates();
  env = await startBackupTestEnv({ settings: { ssl: 'on', ssl_cert_file: certs.cert, ssl_key_file: certs.key } });
  await env.pg.createDatabase('app');
  await loadSampleApp(env.pg, 'app');
}, 180_000);

afterAll(async () => {
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const readEnv = (extra: Record<string, string>) => ({
  ...env.s3.env(),
  S3_ENDPOINT: env.endpoint,
  BACKUP_PREFIX: PREFIX,
  PGPASSWORD: env.pg.password,
  ...extra,
});
const target = (db: string, params: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}?${params}`;

describe.each([
  ['require (the stack default)', { PGSSLMODE: 'require' }, 'sslmode=require'],
  ['verify-full against the CA bundle', { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '<ca>' }, 'sslmode=verify-full&sslrootcert=<ca>'],
])('TLS %s', (name, tlsEnv, urlParams) => {
  const resolve = (v: string) => v.replace('<ca>', certs.ca);
  test('backup, then restore, with content identical', async () => {
    const backupEnv = Object.fromEntries(Object.entries(tlsEnv).map(([k, v]) => [k, resolve(v)]));
    const backup = await runCli(['backup'], env.cliEnv('app', PREFIX, backupEnv));
    expect({ code: backup.code, failed: backup.events.find((e) => e.event === 'backup.failed')?.cause }).toEqual({
      code: 0,
      failed: undefined,
    });
    const db = `restored_${name.split(' ')[0].replace('-', '_')}`;
    const restore = await runCli(
      ['restore', '--key', String(eventOf(backup, 'backup.complete').key), '--target', target(db, resolve(urlParams))],
      readEnv({}),
    );
    expect({ code: restore.code, failed: restore.events.find((e) => e.event === 'restore.failed')?.cause }).toEqual({
      code: 0,
      failed: undefined,
    });
    expect(diffFingerprints(await fingerprintDatabase(env.pg, 'app'), await fingerprintDatabase(env.pg, db))).toEqual([]);
  });
});

describe('a certificate the client cannot verify', () => {
  test('backup with verify-full and the wrong CA: exit 3, naming PGSSLROOTCERT', async () => {
    const run = await runCli(['backup'], env.cliEnv('app', PREFIX, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: certs.otherCa }));
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'backup.failed').cause)).toMatch(/certificate verify failed[\s\S]*could not be verified.*set PGSSLROOTCERT/);
  });

  test('restore into a target with the wrong CA: exit 3 before any download, naming PGSSLROOTCERT', async () => {
    const run = await runCli(['backup'], env.cliEnv('app', PREFIX, { PGSSLMODE: 'require' }));
    env.proxy.clear();
    const restore = await runCli(
      [
        'restore',
        '--key',
        String(eventOf(run, 'backup.complete').key),
        '--target',
        target('never_tls', `sslmode=verify-full&sslrootcert=${certs.otherCa}`),
      ],
      readEnv({}),
    );
    expect(restore.code).toBe(3);
    expect(String(eventOf(restore, 'restore.failed').cause)).toMatch(/could not be verified.*set PGSSLROOTCERT/);
    expect(env.proxy.seen.filter((r) => r.operation === 'GetObject' && new URL(r.url, 'http://x').pathname.endsWith('.dump'))).toEqual([]);
  });
});
