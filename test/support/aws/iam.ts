import { allowedContextKeysForRequest, runSimulation } from '@cloud-copilot/iam-simulate';
import { ACCOUNT, Json, ResolvedTemplate } from './template';

/**
 * One authorization AWS would make: who asks, for what action on which resource, with which
 * request context, against which identity and resource policies. Evaluated by
 * `@cloud-copilot/iam-simulate` (identity and resource policies, every condition operator,
 * same-account rules for roles, KMS key policies and trust policies).
 */
export interface Authorization {
  /** Says in words what is asked, for failure messages. */
  readonly description: string;
  /** A role session ARN (`arn:aws:sts::…:assumed-role/…`) or a service principal (`cloudwatch.amazonaws.com`). */
  readonly principal: string;
  /**
   * The role ARN behind a role session, path included: AWS sets it as `aws:PrincipalArn` on
   * every request (the evaluator does not derive it). Without it, a session's role is taken to
   * have no path.
   */
  readonly principalArn?: string;
  readonly action: string;
  readonly resource: string;
  readonly context: Record<string, string | string[]>;
  readonly identityPolicies: ReadonlyArray<{ readonly name: string; readonly policy: Json }>;
  readonly resourcePolicy?: Json;
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

/**
 * The decision for `auth`. Throws when the evaluator rejects the input (unknown action,
 * resource of the wrong type, malformed policy) or when a context key is not one AWS sets
 * for that action and resource: a misspelt key would otherwise just be absent, and a Deny
 * conditioned on it would silently never apply.
 */
export async function decide(auth: Authorization): Promise<Decision> {
  const [service, action] = auth.action.split(':');
  const allowed = new Set(await allowedContextKeysForRequest(service, action, auth.resource, false, undefined));
  for (const key of Object.keys(auth.context)) {
    const generic = key.toLowerCase().replace(/\/.*$/, '/<key>');
    if (!key.startsWith('aws:') && !allowed.has(key.toLowerCase()) && !allowed.has(generic))
      throw new Error(`${auth.description}: AWS sets no context key ${key} for ${auth.action} on ${auth.resource}`);
  }
  const result = await runSimulation(
    {
      request: {
        principal: auth.principal,
        action: auth.action,
        resource: { resource: auth.resource, accountId: ACCOUNT },
        contextVariables: { ...principalArnContext(auth), ...auth.context },
      },
      identityPolicies: auth.identityPolicies.map((p) => ({ name: p.name, policy: p.policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: auth.resourcePolicy ?? undefined,
    },
    {},
  );
  if (result.resultType === 'error')
    throw new Error(`${auth.description}: the evaluator refused the request: ${JSON.stringify(result.errors)}`);
  return result.overallResult;
}

/** `aws:PrincipalArn` of a role session (given, or the session's role with no path); none for a service principal. */
function principalArnContext(auth: Authorization): Record<string, string> {
  const session = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\//.exec(auth.principal);
  if (!session) return {};
  return { 'aws:PrincipalArn': auth.principalArn ?? `arn:aws:iam::${session[1]}:role/${session[2]}` };
}

/** `decide` for many, as `description: decision` lines (easy to read in a failed expectation). */
export async function decisions(auths: readonly Authorization[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of auths) out.push(`${a.description}: ${await decide(a)}`);
  return out;
}

/**
 * The key policy of `keyArn`: the template's, for a key it creates; for a key it imports, the
 * policy AWS gives a key created without one (the account's IAM policies decide). That is an
 * assumption about a key this stack does not own, and docs/architecture.md says so.
 */
export function keyPolicyOf(t: ResolvedTemplate, keyArn: string): Json {
  const own = t.ofType('AWS::KMS::Key').find(([id]) => t.attribute(id, 'Arn') === keyArn);
  if (own) return t.resolve(own[1].Properties!.KeyPolicy);
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }],
  };
}
