import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** What fingerprinting and the demo need of a server: run SQL with psql. */
export interface PsqlServer {
  /** Runs SQL with psql (stops at the first error) and returns its unaligned, tuples-only output. */
  readonly psql: (sql: string, options?: { database?: string }) => Promise<string>;
}

/** A {@link PsqlServer} for any server reachable with the given libpq variables (psql from `binDir`, else PATH). */
export function psqlServer(env: Record<string, string>, binDir?: string): PsqlServer {
  return {
    psql: async (sql, o = {}) => {
      const child = spawn(binDir ? join(binDir, 'psql') : 'psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1'], {
        env: { ...process.env, ...env, ...(o.database ? { PGDATABASE: o.database } : {}) },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.stdin.end(sql);
      const code = await new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', resolve);
      });
      if (code !== 0) throw new Error(`psql failed (${code}) on database ${o.database ?? env.PGDATABASE ?? '(default)'}: ${err.trim()}`);
      return out;
    },
  };
}
