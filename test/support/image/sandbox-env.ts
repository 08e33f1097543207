import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadSampleApp } from '../postgres/fingerprint';
import { LocalPostgres, startLocalPostgres } from '../postgres/local-postgres';
import { LocalS3, startLocalS3 } from '../s3/local-s3';
import { createBulkDatabase } from '../backup-env';
import { CLI } from '../cli';
import { FaultProxy } from '../s3/fault-proxy';
import { imageNode } from './image-node';
import { missingSandboxTools, runInSandbox, SandboxOptions, SandboxRun } from './sandbox';
import { containersOf, ContainerContract, contractOf, synthesizedContainers } from './task-contract';

/** The stand-ins for AWS (an SSL PostgreSQL with `orders` and `bulk`, s3rver behind a counting proxy) and the synthesized contracts. */
export interface ContractEnv {
  readonly pg: LocalPostgres;
  readonly s3: LocalS3;
  readonly proxy: FaultProxy;
  readonly client: S3Client;
  /** The backup, drill (verify --restore-into) and restore containers of `orders`. */
  readonly contracts: { readonly backup: ContainerContract; readonly drill: ContainerContract; readonly restore: ContainerContract };
  /** The drill container without its restore: `verify --latest --dbname orders`. */
  readonly verifyOnly: ContainerContract;
  /** Runs `contract` (or other `args`) in the sandbox, with the image's Node and the bundled CLI. */
  run(contract: ContainerContract, overrides?: Partial<SandboxOptions>): Promise<SandboxRun>;
  getJson(key: string): Promise<Record<string, any>>;
  stop(): Promise<void>;
}

/**
 * The toolchain's cache root, when it is outside what the sandbox mounts from the host (/usr,
 * /var): its bin/ links to lib/ and share/ of the installation beside it, through a symlink.
 */
function toolchainMounts(binDir: string): string[] {
  return /^\/(usr|var)\//.test(binDir) ? [] : [dirname(dirname(binDir))];
}

/** Starts everything the contract test needs, or fails saying what is missing (never skips). */
export async function startContractEnv(): Promise<ContractEnv> {
  const missing = missingSandboxTools();
  if (missing.length > 0)
    throw new Error(
      `The image sandbox tests (test/task/image) need ${missing.join(', ')}: apt-get install -y bubblewrap tini strace util-linux`,
    );
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' (jest's globalSetup does it).`);
  // bwrap mounts and setpriv changes the uid: both need root, as CI and this project's machines have.
  if (process.getuid?.() !== 0)
    throw new Error('The image sandbox tests (test/task/image) build their sandbox as root: run npm test as root (CI does).');
  const [node, pg, s3] = await Promise.all([imageNode(), startLocalPostgres({ ssl: true }), startLocalS3()]);
  const proxy = new FaultProxy(s3.endpoint);
  const s3Endpoint = await proxy.start();
  await Promise.all([pg.createDatabase('orders').then(() => loadSampleApp(pg, 'orders')), createBulkDatabase(pg, 'bulk', 60)]);
  const local = { pg, bucket: s3.bucket, s3Endpoint };
  const defs = containersOf(synthesizedContainers(), 'orders');
  const drillCommand = defs.drill.Command as string[];
  const at = drillCommand.indexOf('--restore-into');
  const client = s3.client();
  return {
    pg,
    s3,
    proxy,
    client,
    contracts: { backup: contractOf(defs.backup, local), drill: contractOf(defs.drill, local), restore: contractOf(defs.restore, local) },
    verifyOnly: contractOf({ ...defs.drill, Command: [...drillCommand.slice(0, at), ...drillCommand.slice(at + 2)] }, local),
    run: (c, overrides = {}) =>
      runInSandbox({
        node,
        app: CLI,
        args: c.command,
        env: c.env,
        writable: c.writable,
        uid: c.uid,
        gid: c.gid,
        workdir: c.workdir,
        readOnly: toolchainMounts(pg.binDir),
        ...overrides,
      }),
    getJson: async (key) => {
      const r = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      return JSON.parse(await r.Body!.transformToString()) as Record<string, any>;
    },
    stop: async () => {
      client.destroy();
      await proxy.stop();
      await s3.stop();
      await pg.stop();
    },
  };
}

/**
 * Throws unless `run` exited `code`, logged each of `events` and wrote nothing outside its
 * writable mounts. The message shows the run and every local substitution in the contract.
 */
export function expectContract(run: SandboxRun, contract: ContainerContract, expected: { code: number; events: string[] }): void {
  const problems: string[] = [];
  if (run.code !== expected.code)
    problems.push(`exit code ${run.code}${run.signal ? ` (signal ${run.signal})` : ''}, expected ${expected.code}`);
  for (const e of expected.events) if (!run.events.some((x) => x.event === e)) problems.push(`no '${e}' event`);
  if (run.writesOutside.length > 0)
    problems.push(`writes refused outside ${contract.writable.map((w) => w.path).join(', ')}:`, ...run.writesOutside);
  if (problems.length === 0) return;
  throw new Error(
    [
      `${contract.container} (${contract.command.join(' ')}) broke the runtime contract:`,
      ...problems.map((p) => `  - ${p}`),
      'Local substitutions in this contract:',
      ...contract.substitutions.map((s) => `  - ${s}`),
      `stdout:\n${run.stdout}`,
      `stderr:\n${run.stderr}`,
    ].join('\n'),
  );
}
