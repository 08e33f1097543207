import { ContextReader, Raw, show } from './reader';

/** A Slack channel that AWS Chatbot posts the alerts to (`alarmSlack`). */
export interface SlackAlertsConfig {
  /** The workspace ID that the AWS Chatbot console shows after the workspace is authorized, e.g. `T0123ABCD`. */
  readonly workspaceId: string;
  /** The channel ID (the last part of the channel's link), e.g. `C0123ABCDEF`. */
  readonly channelId: string;
}

/** A Microsoft Teams channel that AWS Chatbot posts the alerts to (`alarmTeams`). */
export interface TeamsAlertsConfig {
  /** The team's ID (a UUID, the `groupId` in the channel's link). */
  readonly teamId: string;
  /** The channel's ID, URL-encoded as in the channel's link: `19%3a…%40thread.tacv2`. */
  readonly channelId: string;
  /** The Microsoft Entra tenant's ID (a UUID, the `tenantId` in the channel's link). */
  readonly tenantId: string;
}

/** An HTTPS endpoint subscribed to the alert topic (an entry of `alarmWebhooks`), its URL held in Secrets Manager. */
export interface WebhookAlertsConfig {
  /** The secret holding the URL: complete ARN (preferred) or name, in the stack's region. */
  readonly secret: string;
  /** The JSON field holding the URL. @default - the whole secret string */
  readonly field?: string;
}

/** The alert topic's subscribers besides `alarmEmail`. */
export interface AlertsConfig {
  /** @default - no Slack channel */
  readonly alarmSlack?: SlackAlertsConfig;
  /** @default - no Teams channel */
  readonly alarmTeams?: TeamsAlertsConfig;
  /** @default - no webhook */
  readonly alarmWebhooks?: readonly WebhookAlertsConfig[];
}

// The patterns CloudFormation's registry schemas give these properties of
// AWS::Chatbot::SlackChannelConfiguration and AWS::Chatbot::MicrosoftTeamsChannelConfiguration.
const SLACK_WORKSPACE_ID = /^[0-9A-Z]{1,255}$/;
const SLACK_CHANNEL_ID = /^[A-Za-z0-9]{1,256}$/;
const UUID = /^[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$/;
const TEAMS_CHANNEL_ID = /^[a-zA-Z0-9-_=+/.,]*%3[aA][a-zA-Z0-9-_=+/.,]*%40[a-zA-Z0-9-_=+/.,]*$/;
/** A Secrets Manager secret, as `databases[].secret` accepts it. */
const SECRET_ID = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+|[A-Za-z0-9/_+=.@!-]{1,512})$/;
/** A JSON key a CloudFormation dynamic reference can name (its parts are separated by ':'). */
const JSON_FIELD = /^[A-Za-z0-9_.@+=/-]{1,256}$/;

/**
 * Validates `alarmSlack`, `alarmTeams` and `alarmWebhooks`. A webhook's URL carries a token, so
 * it is never written in the configuration: each entry names the Secrets Manager secret that
 * holds it, and the template holds only a dynamic reference to it. A URL given inline is
 * refused without being repeated in the message.
 */
export function parseAlerts(r: ContextReader, ctx: Raw): AlertsConfig {
  return {
    alarmSlack: parseSlack(r, ctx.alarmSlack),
    alarmTeams: parseTeams(r, ctx.alarmTeams),
    alarmWebhooks: parseWebhooks(r, ctx.alarmWebhooks),
  };
}

function parseSlack(r: ContextReader, value: unknown): SlackAlertsConfig | undefined {
  const raw = r.obj('alarmSlack', value, ['workspaceId', 'channelId']);
  if (!raw) return undefined;
  const workspaceId = r.str('alarmSlack.workspaceId', raw.workspaceId, {
    required: true,
    pattern: SLACK_WORKSPACE_ID,
    hint: "the workspace ID the AWS Chatbot console shows once the workspace is authorized, e.g. 'T0123ABCD'.",
  });
  const channelId = r.str('alarmSlack.channelId', raw.channelId, {
    required: true,
    pattern: SLACK_CHANNEL_ID,
    hint: "the channel ID, the last part of the channel's link (not its name), e.g. 'C0123ABCDEF'.",
  });
  return workspaceId && channelId ? { workspaceId, channelId } : undefined;
}

function parseTeams(r: ContextReader, value: unknown): TeamsAlertsConfig | undefined {
  const raw = r.obj('alarmTeams', value, ['teamId', 'channelId', 'tenantId']);
  if (!raw) return undefined;
  const teamId = r.str('alarmTeams.teamId', raw.teamId, {
    required: true,
    pattern: UUID,
    hint: "the team's ID, the groupId in the channel's link (a UUID).",
  });
  const tenantId = r.str('alarmTeams.tenantId', raw.tenantId, {
    required: true,
    pattern: UUID,
    hint: "the tenant's ID, the tenantId in the channel's link (a UUID).",
  });
  // The channel's link carries the ID URL-encoded (19%3a…%40thread.tacv2); Teams shows it decoded
  // (19:…@thread.tacv2) elsewhere. Both are accepted; Chatbot wants the encoded form.
  const given =
    typeof raw.channelId === 'string' && /^[^%]*:[^%]*@[^%]*$/.test(raw.channelId)
      ? encodeURIComponent(raw.channelId).replace(/%3A/g, '%3a')
      : raw.channelId;
  const channelId = r.str('alarmTeams.channelId', given, {
    required: true,
    pattern: TEAMS_CHANNEL_ID,
    hint: "the channel's ID from its link, e.g. '19%3a0123abcd…%40thread.tacv2' (or decoded, '19:0123abcd…@thread.tacv2').",
  });
  return teamId && tenantId && channelId ? { teamId, channelId, tenantId } : undefined;
}

function parseWebhooks(r: ContextReader, value: unknown): WebhookAlertsConfig[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    r.problems.push(`alarmWebhooks must be a list of {"secret": "<secret ARN or name>", "field": "url"}, got ${show(value)}.`);
    return undefined;
  }
  return value.flatMap((entry: unknown, i: number) => {
    const at = `alarmWebhooks[${i}]`;
    if (typeof entry === 'string') {
      // Never echo it: a webhook URL carries its token.
      r.problems.push(
        `${at} is a URL written inline, which would put its token in cdk.json and in the CloudFormation template. ` +
          'Store the https:// URL in Secrets Manager and give {"secret": "<secret ARN or name>"} (add "field": "<key>" for a JSON secret).',
      );
      return [];
    }
    const raw = r.obj(at, entry, ['secret', 'field']);
    if (!raw) return [];
    const secret = r.str(`${at}.secret`, raw.secret, {
      required: true,
      pattern: SECRET_ID,
      hint: "the complete ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf) or name of the secret holding the https:// URL, in the stack's region.",
    });
    const field = r.str(`${at}.field`, raw.field, { pattern: JSON_FIELD, hint: 'the JSON key holding the URL, e.g. "url".' });
    return secret ? [{ secret, field }] : [];
  });
}
