import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ENV, SslMode } from '../task/src/contract';
import { RDS_CA_BUNDLE_PATH } from './task-image';

export type { SslMode } from '../task/src/contract';

/** TLS settings shared by both secret forms. */
export interface TlsOptions {
  /** libpq `PGSSLMODE`. @default 'require' */
  readonly sslMode?: SslMode;
  /**
   * The CA bundle (a path in the container) that `verify-ca` / `verify-full` check the server's
   * certificate against (libpq `PGSSLROOTCERT`).
   * @default - with verify-ca or verify-full, Amazon RDS's bundle in the image (`RDS_CA_BUNDLE_PATH`); otherwise none
   */
  readonly sslRootCert?: string;
}

/** libpq's TLS variables for `options`. */
function tlsEnvironment(options: TlsOptions): Record<string, string> {
  const mode = options.sslMode ?? 'require';
  const rootCert = options.sslRootCert ?? (mode.startsWith('verify-') ? RDS_CA_BUNDLE_PATH : undefined);
  return { [ENV.sslmode]: mode, ...(rootCert !== undefined ? { [ENV.sslRootCert]: rootCert } : {}) };
}

/** Options of a secret in the format RDS generates (`host`, `port`, `username`, `password`, `dbname`). */
export interface RdsSecretOptions extends TlsOptions {
  /**
   * The server's host name, for a secret without `host`/`port` fields (the secret RDS
   * manages itself with `ManageMasterUserPassword` holds only `username` and `password`).
   * @default - the secret's `host` and `port` fields
   */
  readonly host?: string;
  /** Port, with `host`. @default 5432 */
  readonly port?: number;
}

/** Options of a secret holding a `postgres://` URL (Heroku's `DATABASE_URL`). */
export interface UrlSecretOptions extends TlsOptions {
  /**
   * The JSON field of the secret that holds the URL.
   * @default - the whole secret string is the URL
   */
  readonly field?: string;
}

/** What the backup container receives: plain settings and ECS secrets. */
export interface DatabaseConnectionConfig {
  /** Plain, non-secret environment (PGDATABASE, PGSSLMODE). */
  readonly environment: Record<string, string>;
  /** Injected by ECS from Secrets Manager at task start: never in the template. */
  readonly secrets: Record<string, ecs.Secret>;
}

/**
 * How the backup task reaches PostgreSQL. The password is injected by ECS from Secrets
 * Manager (never plain environment, never in the template); the execution role may read
 * only this one secret.
 */
export abstract class DatabaseConnection {
  /**
   * A secret in the format RDS and Aurora generate: `host`, `port`, `username`, `password`
   * become PGHOST, PGPORT, PGUSER, PGPASSWORD (give `host` for a secret that has only
   * `username` and `password`). PGDATABASE is the construct's
   * `databaseName` (the key layout, grants and drill need it at synth), so the secret's
   * `dbname` field is not used.
   */
  public static fromRdsSecret(secret: secretsmanager.ISecret, options: RdsSecretOptions = {}): DatabaseConnection {
    return new RdsSecretConnection(secret, options);
  }

  /** A secret holding a `postgres://user:password@host:port/dbname` URL, as `DATABASE_URL`. */
  public static fromUrlSecret(secret: secretsmanager.ISecret, options: UrlSecretOptions = {}): DatabaseConnection {
    return new UrlSecretConnection(secret, options);
  }

  /** The secret the task's execution role may read. */
  public abstract readonly secret: secretsmanager.ISecret;

  /** The container settings for backing up `databaseName`. */
  public abstract bind(databaseName: string): DatabaseConnectionConfig;
}

class RdsSecretConnection extends DatabaseConnection {
  constructor(
    public readonly secret: secretsmanager.ISecret,
    private readonly options: RdsSecretOptions,
  ) {
    super();
  }

  public bind(databaseName: string): DatabaseConnectionConfig {
    const host = this.options.host;
    return {
      environment: {
        [ENV.dbname]: databaseName,
        ...tlsEnvironment(this.options),
        ...(host !== undefined ? { [ENV.host]: host, [ENV.port]: String(this.options.port ?? 5432) } : {}),
      },
      secrets: {
        ...(host === undefined
          ? {
              [ENV.host]: ecs.Secret.fromSecretsManager(this.secret, 'host'),
              [ENV.port]: ecs.Secret.fromSecretsManager(this.secret, 'port'),
            }
          : {}),
        [ENV.user]: ecs.Secret.fromSecretsManager(this.secret, 'username'),
        [ENV.password]: ecs.Secret.fromSecretsManager(this.secret, 'password'),
      },
    };
  }
}

class UrlSecretConnection extends DatabaseConnection {
  constructor(
    public readonly secret: secretsmanager.ISecret,
    private readonly options: UrlSecretOptions,
  ) {
    super();
  }

  public bind(): DatabaseConnectionConfig {
    // PGDATABASE is not set: the URL names the database, and the task refuses a PGDATABASE
    // that disagrees with it. The construct's databaseName must match the URL's.
    return {
      // An sslrootcert in the URL wins over these; of its sslmode and PGSSLMODE the stricter wins (the task refuses to weaken TLS).
      environment: tlsEnvironment(this.options),
      secrets: { [ENV.databaseUrl]: ecs.Secret.fromSecretsManager(this.secret, this.options.field) },
    };
  }
}
