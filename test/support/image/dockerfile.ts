import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the final stage of task/Dockerfile gives a container before the task definition adds to it. */
export interface ImageConfig {
  /** `ENV` of the final stage, `${ARG}` references expanded with the ARG defaults. */
  readonly env: Readonly<Record<string, string>>;
  readonly user: string;
  readonly workdir: string;
  readonly entrypoint: readonly string[];
  readonly volumes: readonly string[];
}

export const DOCKERFILE = join(__dirname, '..', '..', '..', 'task', 'Dockerfile');

/** Instructions with their `\` continuations joined, comments and blank lines dropped. */
function instructions(text: string): Array<{ op: string; rest: string }> {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l);
      if (!m) throw new Error(`task/Dockerfile: cannot read the line '${l}'`);
      return { op: m[1].toUpperCase(), rest: m[2] };
    });
}

/**
 * Reads the final stage of task/Dockerfile: the ENV, USER, WORKDIR, ENTRYPOINT and VOLUME a
 * container of the image starts with. Only the forms the Dockerfile uses are understood
 * (`ENV k=v …`, exec-form ENTRYPOINT/VOLUME); anything else fails loudly rather than being guessed.
 */
export function readImageConfig(text = readFileSync(DOCKERFILE, 'utf8')): ImageConfig {
  const all = instructions(text);
  const lastFrom = all.map((i) => i.op).lastIndexOf('FROM');
  if (lastFrom < 0) throw new Error('task/Dockerfile has no FROM');
  const args: Record<string, string> = {};
  const env: Record<string, string> = {};
  let user = 'root';
  let workdir = '/';
  let entrypoint: string[] = [];
  const volumes: string[] = [];
  const expand = (v: string) =>
    v.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => {
      const name = (a ?? b)!;
      const value = env[name] ?? args[name];
      if (value === undefined) throw new Error(`task/Dockerfile: \${${name}} has no value in the final stage`);
      return value;
    });
  for (const { op, rest } of all.slice(lastFrom + 1)) {
    if (op === 'ARG') {
      const [name, value] = rest.split('=');
      if (value !== undefined) args[name] = value;
    } else if (op === 'ENV') {
      for (const pair of rest.split(/\s+/)) {
        const m = /^(\w+)=(.*)$/.exec(pair);
        if (!m) throw new Error(`task/Dockerfile: ENV '${rest}' is not in the KEY=value form this reader understands`);
        env[m[1]] = expand(m[2].replace(/^"(.*)"$/, '$1'));
      }
    } else if (op === 'USER') user = rest;
    else if (op === 'WORKDIR') workdir = rest;
    else if (op === 'ENTRYPOINT') entrypoint = JSON.parse(rest) as string[];
    else if (op === 'VOLUME') volumes.push(...(JSON.parse(rest) as string[]));
  }
  return { env, user, workdir, entrypoint, volumes };
}

/**
 * The PATH of the base image (`node:<major>-slim` sets none of its own, so it is Docker's
 * default). Not in task/Dockerfile, hence written here.
 */
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The base image's `node` user, which `USER node` selects: uid and gid 1000. */
export const IMAGE_USERS: Readonly<Record<string, { uid: number; gid: number; home: string }>> = {
  node: { uid: 1000, gid: 1000, home: '/home/node' },
};

/** The build stage (`FROM … AS build`): its working directory, the files it copies in, and the commands it runs. */
export interface BuildStage {
  readonly workdir: string;
  /** `COPY <sources…> <destination>`, relative to the build context and to `workdir`. */
  readonly copies: ReadonlyArray<{ readonly sources: readonly string[]; readonly destination: string }>;
  /** Shell-form `RUN` commands, in order. */
  readonly runs: readonly string[];
}

/** Reads the stage named `build` of task/Dockerfile (the one that bundles cli.js). */
export function readBuildStage(text = readFileSync(DOCKERFILE, 'utf8')): BuildStage {
  const all = instructions(text);
  const start = all.findIndex((i) => i.op === 'FROM' && /\sAS\s+build$/i.test(i.rest));
  if (start < 0) throw new Error('task/Dockerfile has no stage named build');
  const end = all.findIndex((i, n) => n > start && i.op === 'FROM');
  let workdir = '/';
  const copies: Array<{ sources: string[]; destination: string }> = [];
  const runs: string[] = [];
  for (const { op, rest } of all.slice(start + 1, end < 0 ? undefined : end)) {
    if (op === 'WORKDIR') workdir = rest;
    else if (op === 'RUN') runs.push(rest);
    else if (op === 'COPY') {
      const parts = rest.split(/\s+/);
      if (parts.some((p) => p.startsWith('--'))) throw new Error(`task/Dockerfile: COPY flags are not understood here: ${rest}`);
      copies.push({ sources: parts.slice(0, -1), destination: parts[parts.length - 1] });
    } else if (op !== 'ARG' && op !== 'ENV') throw new Error(`task/Dockerfile: the build stage's ${op} is not understood here`);
  }
  return { workdir, copies, runs };
}
