import { App } from 'aws-cdk-lib';
import { appTemplate } from '../aws/template';
import { buildApp } from '../../../bin/app';
import { exampleContext } from '../cdk';
import { IMAGE_PATH, IMAGE_USERS, ImageConfig, readImageConfig } from './dockerfile';

/** Where the contract test's stand-ins for AWS live. */
export interface LocalServices {
  readonly pg: { readonly host: string; readonly port: number; readonly user: string; readonly password: string; readonly binDir: string };
  readonly bucket: string;
  readonly s3Endpoint: string;
}

/** How one container of a synthesized task definition runs, with its local stand-ins. */
export interface ContainerContract {
  readonly container: string;
  /** The CLI arguments: the container definition's `Command` (after the image's ENTRYPOINT `node /app/cli.js`). */
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /**
   * The writable mount points (a fresh task volume each). As Fargate documents it, a volume
   * at a path the image declares as VOLUME starts with the image's ownership (here the image
   * user, 0700), any other as root-owned 0755.
   */
  readonly writable: ReadonlyArray<{ readonly path: string; readonly owner: 'image-user' | 'root' }>;
  readonly uid: number;
  readonly gid: number;
  readonly workdir: string;
  /** Every value that is not the template's or the image's, and why: printed when a test fails. */
  readonly substitutions: readonly string[];
}

type ContainerDef = Record<string, any>;

/** The committed cdk.json, synthesized as `cdk synth` would, and its ECS container definitions. */
export function synthesizedContainers(): ContainerDef[] {
  const { stack } = buildApp(new App({ context: exampleContext() }));
  const resources = Object.values(appTemplate(stack).Resources as Record<string, ContainerDef>);
  return resources.filter((r) => r.Type === 'AWS::ECS::TaskDefinition').flatMap((r) => r.Properties.ContainerDefinitions as ContainerDef[]);
}

function one(defs: ContainerDef[], what: string, match: (d: ContainerDef) => boolean): ContainerDef {
  const found = defs.filter(match);
  if (found.length !== 1) throw new Error(`expected one ${what} container in the synthesized app, found ${found.length}`);
  return found[0];
}

const envValue = (d: ContainerDef, name: string) =>
  (d.Environment as Array<{ Name: string; Value: unknown }>).find((e) => e.Name === name)?.Value;
const commandHas = (d: ContainerDef, ...args: string[]) => args.every((a) => (d.Command as string[] | undefined)?.includes(a));

/** The backup, restore drill and restore containers of database `database`. */
export function containersOf(defs: ContainerDef[], database: string): { backup: ContainerDef; drill: ContainerDef; restore: ContainerDef } {
  return {
    backup: one(defs, `backup (${database})`, (d) => d.Name === 'backup' && envValue(d, 'PGDATABASE') === database),
    drill: one(defs, `drill verify (${database})`, (d) => d.Name === 'verify' && commandHas(d, '--dbname', database)),
    restore: one(defs, `restore (${database})`, (d) => d.Name === 'restore' && commandHas(d, '--dbname', database)),
  };
}

/**
 * The contract of `def`: its command, its environment (the image's ENV, then the task
 * definition's Environment and Secrets, as ECS layers them), its writable mounts and user.
 * Everything AWS would supply is replaced by a local stand-in, and each replacement is listed.
 */
export function contractOf(def: ContainerDef, local: LocalServices, image: ImageConfig = readImageConfig()): ContainerContract {
  const substitutions: string[] = [];
  const sub = (what: string) => substitutions.push(what);
  if (def.ReadonlyRootFilesystem !== true) throw new Error(`container ${def.Name}: ReadonlyRootFilesystem is not true`);
  if (def.LinuxParameters?.InitProcessEnabled !== true)
    throw new Error(`container ${def.Name}: InitProcessEnabled is not true (tini stands for it)`);
  if (def.User !== undefined) throw new Error(`container ${def.Name}: sets User ${def.User}; the contract only knows the image's USER`);
  if (JSON.stringify(image.entrypoint) !== JSON.stringify(['node', '/app/cli.js']))
    throw new Error(`task/Dockerfile: ENTRYPOINT ${JSON.stringify(image.entrypoint)} is not the node /app/cli.js the sandbox runs`);
  const user = IMAGE_USERS[image.user];
  if (!user) throw new Error(`task/Dockerfile: USER ${image.user} is not one the contract knows (${Object.keys(IMAGE_USERS).join(', ')})`);

  const env: Record<string, string> = { PATH: IMAGE_PATH, ...image.env };
  sub(`PATH=${IMAGE_PATH}: the base image's PATH (Docker's default; task/Dockerfile sets none)`);
  for (const { Name, Value } of def.Environment as Array<{ Name: string; Value: unknown }>) {
    if (typeof Value === 'string') env[Name] = Value;
    else if (Name === 'BACKUP_BUCKET') {
      env[Name] = local.bucket;
      sub(`BACKUP_BUCKET=${local.bucket}: the s3rver bucket, for ${JSON.stringify(Value)}`);
    } else throw new Error(`container ${def.Name}: ${Name} is ${JSON.stringify(Value)}; only BACKUP_BUCKET may be resolved locally`);
  }
  const { pg } = local;
  const secretValues: Record<string, string> = {
    PGHOST: pg.host,
    PGPORT: String(pg.port),
    PGUSER: pg.user,
    PGPASSWORD: pg.password,
    // The form the restore target secret asks for (RESTORE_TARGET_PLACEHOLDER), password included.
    RESTORE_TARGET_URL: `postgres://${pg.user}:${encodeURIComponent(pg.password)}@${pg.host}:${pg.port}/orders_restored?sslmode=require`,
  };
  for (const { Name } of (def.Secrets ?? []) as Array<{ Name: string }>) {
    const value = secretValues[Name];
    if (value === undefined) throw new Error(`container ${def.Name}: secret ${Name} has no local stand-in`);
    env[Name] = value;
    sub(`${Name}=${Name === 'PGHOST' || Name === 'PGPORT' || Name === 'PGUSER' ? value : '<local>'}: secret, from the local cluster`);
  }
  if (env.PG_BIN_DIR !== undefined) {
    sub(`PG_BIN_DIR=${pg.binDir}: the local PostgreSQL client, for the image's ${env.PG_BIN_DIR}`);
    env.PG_BIN_DIR = pg.binDir;
  }
  // No AWS: s3rver, which accepts any signature, stands in for S3 and the task role.
  Object.assign(env, {
    S3_ENDPOINT: local.s3Endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
  });
  sub(
    `S3_ENDPOINT=${local.s3Endpoint}, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (dummy), AWS_REGION=us-east-1: s3rver for S3 and the task role`,
  );

  const command = [...(def.Command as string[])];
  const into = command.indexOf('--restore-into');
  if (into >= 0) {
    // The drill's own PostgreSQL (trust auth on localhost:5432) is the local cluster: same
    // user and database name, its host and port, and its password through PGPASSWORD.
    const url = new URL(command[into + 1]);
    if (decodeURIComponent(url.username) !== pg.user)
      throw new Error(`--restore-into user ${url.username} is not the local superuser ${pg.user}`);
    url.hostname = pg.host;
    url.port = String(pg.port);
    sub(`--restore-into ${command[into + 1]} -> ${url.href}: the drill server is the local cluster`);
    command[into + 1] = url.href;
    env.PGPASSWORD = pg.password;
    sub('PGPASSWORD=<local>: the drill server trusts localhost; the local cluster wants a password');
  }
  const writable = ((def.MountPoints ?? []) as Array<{ ContainerPath: string; ReadOnly?: boolean }>)
    .filter((m) => m.ReadOnly !== true)
    .map((m) => ({ path: m.ContainerPath, owner: image.volumes.includes(m.ContainerPath) ? ('image-user' as const) : ('root' as const) }));
  return { container: def.Name, command, env, writable, uid: user.uid, gid: user.gid, workdir: image.workdir, substitutions };
}
