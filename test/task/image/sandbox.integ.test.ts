import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffFingerprints, fingerprintDatabase } from '../../support/postgres/fingerprint';
import { ContractEnv, expectContract, startContractEnv } from '../../support/image/sandbox-env';
import { RunningSandbox } from '../../support/image/sandbox';

/**
 * The bundled CLI run the way the synthesized ECS task definitions run it: Node of the
 * image's major, a read-only root with only the task's mount points writable, uid 1000 with
 * no capabilities, tini as PID 1, the container's environment and nothing else, and a
 * server that requires SSL as RDS does. AWS is replaced by local stand-ins; each
 * replacement is listed by `contractOf` and printed when a test fails.
 */

let env: ContractEnv;

beforeAll(async () => {
  env = await startContractEnv();
  // PGSSLMODE=require from the template is kept: the local server must really speak TLS.
  expect((await env.pg.psql('show ssl')).trim()).toBe('on');
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('The CLI keeps its runtime contract as the ECS tasks run it', () => {
  it('backs up as the backup container does, roles included (BACKUP_GLOBALS=true)', async () => {
    const { backup } = env.contracts;
    const run = await env.run(backup);
    expectContract(run, backup, { code: 0, events: ['backup.complete'] });
    const done = run.events.find((e) => e.event === 'backup.complete')!;
    const manifest = await env.getJson(String(done.manifestKey));
    expect(manifest.globals?.key).toMatch(/\.globals\.sql$/);
  });

  it('backs up with --globals given explicitly', async () => {
    const { backup } = env.contracts;
    const run = await env.run(backup, { args: ['backup', '--globals'] });
    expectContract(run, backup, { code: 0, events: ['backup.complete'] });
  });

  it('verifies the latest backup as the drill does without a restore', async () => {
    const run = await env.run(env.verifyOnly);
    expectContract(run, env.verifyOnly, { code: 0, events: ['verify.start', 'verify.ok'] });
  });

  it('runs the restore drill as its container does (verify --restore-into)', async () => {
    const { drill } = env.contracts;
    const run = await env.run(drill);
    expectContract(run, drill, { code: 0, events: ['restore.verified', 'restore.complete', 'verify.ok'] });
    expect(diffFingerprints(await fingerprintDatabase(env.pg, 'orders'), await fingerprintDatabase(env.pg, 'drill'))).toEqual([]);
  });

  it.each(['restore', 'drill'] as const)(
    'refuses a /scratch the task user cannot write (a root-owned 0755 volume): %s exits 2, naming /scratch',
    async (name) => {
      // Before the successful restore below, so that its target is still new and the only
      // thing to refuse is the scratch volume (the drill's target exists by now: the message
      // must still be about /scratch, not about a non-empty database).
      const contract = env.contracts[name];
      const rootOwned = mkdtempSync(join(tmpdir(), 'pg-s3-backup-rootvol-'));
      chownSync(rootOwned, 0, 0);
      chmodSync(rootOwned, 0o755);
      try {
        const run = await env.run(contract, { writable: contract.writable.map((w) => ({ ...w, hostDir: rootOwned })) });
        expectContract(run, contract, { code: 2, events: [name === 'restore' ? 'restore.failed' : 'verify.failed'] });
        expect(run.stdout + run.stderr).toMatch(/\/scratch/);
        expect(run.stdout + run.stderr).toMatch(/not writable/i);
      } finally {
        rmSync(rootOwned, { recursive: true, force: true });
      }
    },
  );

  it('restores as the restore container does, into a database that then matches the source', async () => {
    const { restore } = env.contracts;
    const run = await env.run(restore);
    expectContract(run, restore, { code: 0, events: ['restore.begin', 'restore.verified', 'restore.complete'] });
    expect(diffFingerprints(await fingerprintDatabase(env.pg, 'orders'), await fingerprintDatabase(env.pg, 'orders_restored'))).toEqual([]);
  });
});

describe('The sandbox sees what a container would', () => {
  /** Runs `source` as /app/cli.js in the backup container's sandbox. */
  async function probe(source: string) {
    const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-probe-'));
    try {
      writeFileSync(join(dir, 'probe.js'), source);
      return await env.run(env.contracts.backup, { app: join(dir, 'probe.js'), args: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('runs node as uid 1000 without capabilities, under tini as PID 1, with only the contract environment', async () => {
    const run = await probe(
      `const fs = require('fs');
       const status = fs.readFileSync('/proc/self/status', 'utf8');
       console.log(JSON.stringify({ event: 'probe', node: process.version, uid: process.getuid(), gid: process.getgid(),
         groups: process.getgroups(), capEff: /CapEff:\\s*(\\w+)/.exec(status)[1], ppid: process.ppid,
         init: fs.readFileSync('/proc/1/comm', 'utf8').trim(), cwd: process.cwd(), env: Object.keys(process.env).sort() }));`,
    );
    expect(run.code).toBe(0);
    const seen = run.events.find((e) => e.event === 'probe');
    expect(seen).toEqual({
      event: 'probe',
      node: expect.stringMatching(/^v24\./),
      uid: 1000,
      gid: 1000,
      groups: [1000],
      capEff: '0000000000000000',
      ppid: 1,
      init: 'tini',
      cwd: '/app',
      // PWD is bwrap's (it sets it after --chdir); everything else is the contract's.
      env: [...Object.keys(env.contracts.backup.env), 'PWD'].sort(),
    });
  });

  it('reports writes outside the writable mounts even when the program swallows the error', async () => {
    const run = await probe("for (const p of ['/app/x', '/tmp/x', '/scratch/ok']) try { require('fs').writeFileSync(p, '1') } catch {}\n");
    expect(run.code).toBe(0);
    expect(run.writesOutside).toEqual(['/app/x (openat: EROFS)', '/tmp/x (openat: EROFS)']);
  });

  it('passes SIGTERM from the container init to node during a part upload: exit 130 and backup.failed within 15 s', async () => {
    const { backup } = env.contracts;
    env.proxy.clear();
    let sandbox: RunningSandbox | undefined;
    const running = env.run(backup, {
      args: ['backup', '--dbname', 'bulk', '--part-size-mib', '5', '--compress', '0'],
      onStart: (s) => (sandbox = s),
    });
    const deadline = Date.now() + 60_000;
    while (env.proxy.count('UploadPart') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(env.proxy.count('UploadPart')).toBeGreaterThan(0);
    const killedAt = Date.now();
    sandbox!.kill('SIGTERM');
    const run = await running;
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expectContract(run, backup, { code: 130, events: ['backup.failed'] });
    expect(run.events.find((e) => e.event === 'backup.failed')?.cause).toMatch(/SIGTERM/);
    expect(env.proxy.count('CompleteMultipartUpload')).toBe(0);
  });
});
