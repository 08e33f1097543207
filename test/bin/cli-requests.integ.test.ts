/**
 * The S3 requests the CLI really makes, evaluated against the policies that would govern them
 * in AWS. Each command runs for real (bundled CLI, throwaway PostgreSQL, s3rver); the proxy in
 * front of s3rver records every HTTP request. Each request is then turned into what S3
 * authorizes (test/support/aws/s3-requests.ts) and decided by `@cloud-copilot/iam-simulate`
 * against the synthesized identity policy of the role that runs that command in AWS, the
 * bucket policy, and the bucket key's policy where there is one.
 *
 * Then the other side: what a compromised backup task would try with the writer role must be
 * denied, so that history survives it without Object Lock.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { loadSampleApp } from '../support/postgres/fingerprint';
import { buildApp } from '../../bin/app';
import { DatabaseConnection, PostgresBackup } from '../../lib';
import { everyOptionContext, exampleContext, SECRET_ARN, TEST_IMAGE, testStack } from '../support/cdk';
import { BackupTestEnv, createBulkDatabase, startBackupTestEnv } from '../support/backup-env';
import { runCli } from '../support/cli';
import type { SeenRequest } from '../support/s3/fault-proxy';
import { Authorization, decide, decisions } from '../support/aws/iam';
import { authorizationsOf, bucketKey, Caller } from '../support/aws/s3-requests';
import { ACCOUNT, appTemplate, ResolvedTemplate } from '../support/aws/template';

/** `operator`: a person or monitor outside AWS tasks, with the stack's read-only managed policy. */
type Role = 'backup' | 'verify' | 'restore' | 'operator';
type TaskRole = Exclude<Role, 'operator'>;
interface Recording {
  readonly name: string;
  readonly database: 'orders' | 'billing';
  /** The container (and so the task role) that runs this command in AWS. */
  readonly role: Role;
  readonly requests: SeenRequest[];
}

let env: BackupTestEnv;
const recordings: Recording[] = [];
/** The prefix the synthesized task definitions give the CLI (both apps use the project name). */
const PREFIX = 'orders';

async function record(
  name: string,
  database: Recording['database'],
  role: Role,
  args: string[],
  extra: Record<string, string | undefined> = {},
  during?: (pid: number) => void,
) {
  env.proxy.clear();
  env.proxy.addRule((req) => (req.operation === 'AbortMultipartUpload' ? { kind: 'respond', status: 204, body: '' } : undefined));
  const run = await runCli(args, env.cliEnv(database, PREFIX, extra), { onStart: during });
  recordings.push({ name, database, role, requests: [...env.proxy.seen] });
  return run;
}

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('orders');
  await loadSampleApp(env.pg, 'orders');
  await createBulkDatabase(env.pg, 'billing', 40);

  expect((await record('backup', 'orders', 'backup', ['backup'])).code).toBe(0);
  expect((await record('backup --globals', 'orders', 'backup', ['backup', '--globals'])).code).toBe(0);
  expect((await record('multipart backup', 'billing', 'backup', ['backup', '--part-size-mib', '5', '--compress', '0'])).code).toBe(0);
  // Interrupted: SIGTERM once the first part is on its way, so the upload is aborted.
  let cli = 0;
  const interrupted = record(
    'interrupted backup',
    'billing',
    'backup',
    ['backup', '--part-size-mib', '5', '--compress', '0'],
    {},
    (pid) => (cli = pid),
  );
  while (env.proxy.count('UploadPart') < 1) await new Promise((r) => setTimeout(r, 20));
  process.kill(cli, 'SIGTERM');
  expect((await interrupted).code).toBe(130);

  const reader = { PGPASSWORD: env.pg.password };
  const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;
  // The readers, each as the container that runs it in AWS would (the drill is `verify --restore-into`).
  const reads: Array<[string, Role, string[]]> = [
    ['list', 'verify', ['list', '--dbname', 'orders', '--json']],
    ['verify', 'verify', ['verify', '--latest', '--dbname', 'orders']],
    ['verify --restore-into (the drill)', 'verify', ['verify', '--latest', '--dbname', 'orders', '--restore-into', target('drill')]],
    ['restore', 'restore', ['restore', '--latest', '--dbname', 'orders', '--target', target('orders_restored')]],
  ];
  for (const [name, role, args] of reads)
    expect({ name, code: (await record(name, 'orders', role, args, reader)).code }).toEqual({ name, code: 0 });
  // The same reads from a laptop, plus status (which no task runs), with the operator's policy.
  const operatorReads: Array<[string, string[]]> = [
    ['operator: status', ['status', '--max-age-hours', '24']],
    ['operator: status --dbname', ['status', '--dbname', 'billing', '--json']],
    // New targets: the task recordings above restored into theirs already.
    ...reads.map(([name, , args]): [string, string[]] => [`operator: ${name}`, args.map((a) => a.replace(/\/(\w+)$/, '/op_$1'))]),
    ['operator: restore --globals', ['restore', '--latest', '--dbname', 'orders', '--globals', '--target', target('orders_globals')]],
  ];
  for (const [name, args] of operatorReads) {
    // Without --dbname, status reads PGDATABASE like every command: unset it to see every database.
    const code = (await record(name, 'orders', 'operator', args, { ...reader, PGDATABASE: undefined })).code;
    expect({ name, code }).toEqual({ name, code: 0 });
  }
}, 300_000);

afterAll(async () => {
  await env?.stop();
});

/** The app templates, plus a construct whose bucket key is in the stack (so its key policy is evaluated, not assumed). */
function templates(): Array<[string, ResolvedTemplate]> {
  const app = (context: Record<string, unknown>) => new ResolvedTemplate(appTemplate(buildApp(new App({ context })).stack));
  const { stack, vpc } = testStack();
  const bucket = new s3.Bucket(stack, 'Backups', { encryption: s3.BucketEncryption.KMS, encryptionKey: new kms.Key(stack, 'BucketKey') });
  for (const name of ['orders', 'billing'])
    new PostgresBackup(stack, `Database${name[0].toUpperCase()}${name.slice(1)}`, {
      vpc,
      connection: DatabaseConnection.fromRdsSecret(secretsmanager.Secret.fromSecretCompleteArn(stack, `Secret${name}`, SECRET_ARN)),
      databaseName: name,
      prefix: PREFIX,
      bucket,
      image: TEST_IMAGE,
    });
  return [
    ['the committed cdk.json (SSE-S3)', app(exampleContext())],
    ['every option on (SSE-KMS with an imported key)', app(everyOptionContext())],
    ['a bucket key in the stack (its key policy evaluated)', new ResolvedTemplate(Template.fromStack(stack).toJSON())],
  ];
}

/** The task role of the container that runs `role` for `database`. */
function roleOf(t: ResolvedTemplate, database: string, role: TaskRole): string {
  const id = `Database${database[0].toUpperCase()}${database.slice(1)}`;
  const [, def] = t
    .ofType('AWS::ECS::TaskDefinition')
    .find(([logical, d]) => logical.startsWith(id) && d.Properties!.ContainerDefinitions.some((c: { Name: string }) => c.Name === role))!;
  return t.roleId(def.Properties!.TaskRoleArn);
}

function bucketOf(t: ResolvedTemplate): string {
  const [id] = t
    .ofType('AWS::S3::Bucket')
    .find(
      ([, b]) =>
        b.Properties?.LoggingConfiguration ||
        b.Properties?.BucketEncryption?.ServerSideEncryptionConfiguration?.[0]?.ServerSideEncryptionByDefault?.KMSMasterKeyID,
    )!;
  return id;
}

/** Objects the backups stored, with the tags they were created with. */
function stored(): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const r of recordings.flatMap((x) => x.requests))
    if (r.operation === 'PutObject' || r.operation === 'CreateMultipartUpload') {
      const key = decodeURIComponent(new URL(r.url, 'http://x').pathname).replace(`/${env.s3.bucket}/`, '');
      out.set(key, Object.fromEntries(new URLSearchParams(String(r.headers['x-amz-tagging'] ?? ''))));
    }
  return out;
}

/** The stack's read-only managed policy for operators, when the template has one. */
function operatorOf(t: ResolvedTemplate): Caller | undefined {
  const [found] = t.ofType('AWS::IAM::ManagedPolicy').filter(([id]) => id.startsWith('OperatorReadOnlyPolicy'));
  if (!found) return undefined;
  return {
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/platform-operator/laptop`,
    identityPolicies: [{ name: found[0], policy: t.resolve(found[1].Properties!.PolicyDocument) }],
  };
}

const taskRecordings = () => recordings.filter((r): r is Recording & { role: TaskRole } => r.role !== 'operator');

test('both app templates carry the operator policy (so its tests below run for them)', () => {
  expect(templates().map(([name, t]) => [name, operatorOf(t) !== undefined])).toEqual([
    ['the committed cdk.json (SSE-S3)', true],
    ['every option on (SSE-KMS with an imported key)', true],
    ['a bucket key in the stack (its key policy evaluated)', false],
  ]);
});

describe.each(templates())('%s', (_, t) => {
  const target = () => ({ template: t, bucketId: bucketOf(t), localBucket: env.s3.bucket });
  const authorizationsFor = (rec: Recording & { role: TaskRole }) =>
    authorizationsOf(rec.requests, roleOf(t, rec.database, rec.role), target(), rec.role === 'backup' ? new Map() : stored());

  test('the recordings hold every kind of request the CLI makes', () => {
    const ops = new Set(recordings.flatMap((r) => r.requests.map((q) => q.operation)));
    expect([...ops].sort()).toEqual(
      [
        'AbortMultipartUpload',
        'CompleteMultipartUpload',
        'CreateMultipartUpload',
        'GetObject',
        'HeadObject', // a full read's size, before its ranged GETs (openObjectInParts)
        'ListObjectsV2',
        'PutObject',
        'UploadPart',
      ].sort(),
    );
  });

  test('every request the CLI makes is allowed for the role that runs it in AWS', async () => {
    const denied: string[] = [];
    let evaluated = 0;
    for (const rec of taskRecordings()) {
      const auths = authorizationsFor(rec);
      expect(auths.length).toBeGreaterThan(0);
      evaluated += auths.length;
      for (const d of await decisions(auths)) if (!d.endsWith(': Allowed')) denied.push(`${rec.name}: ${d}`);
    }
    expect(denied).toEqual([]);
    expect(evaluated).toBeGreaterThan(20);
  });

  test('every S3 action a role holds is one the CLI uses (least privilege)', () => {
    for (const role of ['backup', 'verify', 'restore'] as const) {
      const used = new Set(
        taskRecordings()
          .filter((r) => r.role === role)
          .flatMap((r) => authorizationsFor(r).map((a) => a.action)),
      );
      const granted = t
        .identityPolicies(roleOf(t, 'orders', role))
        .flatMap((p: any) => p.policy.Statement)
        .flatMap((s: any) => (Array.isArray(s.Action) ? s.Action : [s.Action]))
        .filter((a: string) => a.startsWith('s3:'));
      expect({ role, unused: granted.filter((a: string) => !used.has(a)) }).toEqual({ role, unused: [] });
    }
  });

  // The construct-only stack has no BackupStack, so no operator policy.
  const operator = operatorOf(t);
  if (operator)
    describe("an operator's read-only policy (the stack's OperatorReadOnlyPolicy)", () => {
      const operatorAuths = () =>
        recordings.filter((r) => r.role === 'operator').flatMap((r) => authorizationsOf(r.requests, operator, target(), stored()));

      test('allows every request of list, status, verify and restore from outside AWS, and holds no action they do not use', async () => {
        const auths = operatorAuths();
        expect(new Set(recordings.filter((r) => r.role === 'operator').flatMap((r) => r.requests.map((q) => q.operation)))).toEqual(
          new Set(['ListObjectsV2', 'GetObject', 'HeadObject']),
        );
        const denied = (await decisions(auths)).filter((d) => !d.endsWith(': Allowed'));
        expect(denied).toEqual([]);
        // status lists the prefix itself, with a delimiter, to find the databases.
        expect(
          auths.some((a) => a.action === 's3:ListBucket' && a.context['s3:prefix'] === `${PREFIX}/` && a.context['s3:delimiter'] === '/'),
        ).toBe(true);
        const used = new Set(auths.map((a) => a.action));
        const granted = operator.identityPolicies
          .flatMap((p: any) => p.policy.Statement)
          .flatMap((s: any) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
        expect(granted.filter((a: string) => !used.has(a))).toEqual([]);
      });

      test('denies writing, deleting, re-tagging, and reading or listing outside the project prefix', async () => {
        const bucket = t.attribute(bucketOf(t), 'Ref');
        const dump = [...stored().keys()].find((k) => k.startsWith(`${PREFIX}/orders/`) && k.endsWith('.dump'))!;
        const tls = { 'aws:SecureTransport': 'true' };
        const on = (description: string, action: string, resource: string, context: Record<string, string> = tls): Authorization => ({
          description,
          principal: operator.principal,
          identityPolicies: operator.identityPolicies,
          resourcePolicy: t.resourcePolicy('AWS::S3::BucketPolicy', 'Bucket', 'PolicyDocument', bucketOf(t)),
          action,
          resource,
          context,
        });
        const attempts = [
          on('write a new backup', 's3:PutObject', `arn:aws:s3:::${bucket}/${PREFIX}/orders/209901010000.dump`, {
            ...tls,
            's3:if-none-match': '*',
            's3:ObjectCreationOperation': 'true',
          }),
          on('delete a backup', 's3:DeleteObject', `arn:aws:s3:::${bucket}/${dump}`),
          on('delete a version', 's3:DeleteObjectVersion', `arn:aws:s3:::${bucket}/${dump}`),
          on('re-tag a backup', 's3:PutObjectTagging', `arn:aws:s3:::${bucket}/${dump}`),
          on('read an old version', 's3:GetObjectVersion', `arn:aws:s3:::${bucket}/${dump}`),
          on('read outside the prefix', 's3:GetObject', `arn:aws:s3:::${bucket}/elsewhere/secret.txt`),
          on('list outside the prefix', 's3:ListBucket', `arn:aws:s3:::${bucket}`, { ...tls, 's3:prefix': 'elsewhere/' }),
          on('list the whole bucket', 's3:ListBucket', `arn:aws:s3:::${bucket}`, tls),
          on('change the lifecycle', 's3:PutLifecycleConfiguration', `arn:aws:s3:::${bucket}`),
        ];
        expect((await decisions(attempts)).filter((d) => d.endsWith(': Allowed'))).toEqual([]);
      });
    });

  describe('what a compromised backup task would try with the writer role is denied', () => {
    const attacks = (): Authorization[] => {
      const writer = roleOf(t, 'orders', 'backup');
      const bucket = t.attribute(bucketOf(t), 'Ref');
      const dump = [...stored().keys()].find((k) => k.startsWith(`${PREFIX}/orders/`) && k.endsWith('.dump'))!;
      const object = `arn:aws:s3:::${bucket}/${dump}`;
      const base = {
        ...t.callerOf(writer),
        identityPolicies: t.identityPolicies(writer),
        resourcePolicy: t.resourcePolicy('AWS::S3::BucketPolicy', 'Bucket', 'PolicyDocument', bucketOf(t)),
      };
      const tls = { 'aws:SecureTransport': 'true' };
      const existing = { ...tls, 's3:ExistingObjectTag/tier': 'monthly' };
      const on = (description: string, action: string, resource: string, context: Record<string, string> = tls): Authorization => ({
        ...base,
        description,
        action,
        resource,
        context,
      });
      const key = bucketKey(t, bucketOf(t));
      return [
        on('overwrite a stored dump with a plain PutObject', 's3:PutObject', object, { ...tls, 's3:ObjectCreationOperation': 'true' }),
        on('overwrite with If-Match on the ETag it listed', 's3:PutObject', object, {
          ...tls,
          's3:if-match': '"0123abcd"',
          's3:ObjectCreationOperation': 'true',
        }),
        on('complete a multipart upload over it without If-None-Match', 's3:PutObject', object, {
          ...tls,
          's3:ObjectCreationOperation': 'true',
        }),
        on('copy over it (CopyObject)', 's3:PutObject', object, {
          ...tls,
          's3:x-amz-copy-source': `${bucket}/${dump}`,
          's3:ObjectCreationOperation': 'true',
        }),
        on('re-tag a monthly backup as daily', 's3:PutObjectTagging', object, { ...existing, 's3:RequestObjectTag/tier': 'daily' }),
        on('untag it', 's3:DeleteObjectTagging', object, existing),
        on('delete it', 's3:DeleteObject', object),
        on('delete a version of it', 's3:DeleteObjectVersion', object),
        on('read it', 's3:GetObject', object),
        on('read an old version', 's3:GetObjectVersion', object),
        on('bypass governance retention', 's3:BypassGovernanceRetention', object),
        on('shorten its retention', 's3:PutObjectRetention', object),
        on('lift a legal hold', 's3:PutObjectLegalHold', object),
        on('change the lifecycle', 's3:PutLifecycleConfiguration', `arn:aws:s3:::${bucket}`),
        on('replace the bucket policy', 's3:PutBucketPolicy', `arn:aws:s3:::${bucket}`),
        on('delete the bucket policy', 's3:DeleteBucketPolicy', `arn:aws:s3:::${bucket}`),
        on('suspend versioning', 's3:PutBucketVersioning', `arn:aws:s3:::${bucket}`),
        on('change Object Lock', 's3:PutBucketObjectLockConfiguration', `arn:aws:s3:::${bucket}`),
        on('write into another database folder', 's3:PutObject', `arn:aws:s3:::${bucket}/${PREFIX}/billing/209901010000.dump`, {
          ...tls,
          's3:if-none-match': '*',
          's3:ObjectCreationOperation': 'true',
        }),
        on('list another database folder', 's3:ListBucket', `arn:aws:s3:::${bucket}`, { ...tls, 's3:prefix': `${PREFIX}/billing/` }),
        on('abort another database upload', 's3:AbortMultipartUpload', `arn:aws:s3:::${bucket}/${PREFIX}/billing/209901010000.dump`),
        ...(key
          ? [on('decrypt outside S3 with the bucket key', 'kms:Decrypt', key.arn, {})].map((a) => ({ ...a, resourcePolicy: key.policy }))
          : []),
      ];
    };

    test('overwrite, re-tag, untag, delete, read, bypass retention, change the bucket, other folders', async () => {
      const allowed = (await decisions(attacks())).filter((d) => d.endsWith(': Allowed'));
      expect(allowed).toEqual([]);
    });

    test('while the same writer may still create a new object conditionally and tag it at creation', async () => {
      const [overwrite, , , , retag] = attacks();
      expect(await decide({ ...overwrite, context: { ...overwrite.context, 's3:if-none-match': '*' } })).toBe('Allowed');
      const { ['s3:ExistingObjectTag/tier']: _, ...newObject } = retag.context as Record<string, string>;
      void _;
      expect(await decide({ ...retag, context: newObject })).toBe('Allowed');
    });
  });
});
