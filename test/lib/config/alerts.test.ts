import { parseProjectConfig } from '../../../lib';
import { exampleContext, problemsOf } from '../../support/cdk';

/** The committed example with `extra` settings. */
const ctx = (extra: Record<string, unknown>) => ({ ...exampleContext(), ...extra });

const TEAM = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const TENANT = '11112222-3333-4444-5555-666677778888';
const TEAMS_CHANNEL = '19%3a0123456789abcdef0123456789abcdef%40thread.tacv2';
const WEBHOOK_SECRET = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:alerts/pagerduty-AbCdEf';

describe('alarmSlack, alarmTeams and alarmWebhooks', () => {
  test('valid settings are read as given; a Teams channel ID copied decoded is encoded as Chatbot wants it', () => {
    const config = parseProjectConfig(
      ctx({
        alarmSlack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' },
        alarmTeams: { teamId: TEAM, channelId: '19:0123456789abcdef0123456789abcdef@thread.tacv2', tenantId: TENANT },
        alarmWebhooks: [{ secret: WEBHOOK_SECRET }, { secret: 'alerts/opsgenie', field: 'url' }],
      }),
    );
    expect(config.alarmSlack).toEqual({ workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' });
    expect(config.alarmTeams).toEqual({ teamId: TEAM, channelId: TEAMS_CHANNEL, tenantId: TENANT });
    expect(config.alarmWebhooks).toEqual([
      { secret: WEBHOOK_SECRET, field: undefined },
      { secret: 'alerts/opsgenie', field: 'url' },
    ]);
  });

  test('left out, there is no channel and no webhook', () => {
    const config = parseProjectConfig(exampleContext());
    expect([config.alarmSlack, config.alarmTeams, config.alarmWebhooks]).toEqual([undefined, undefined, undefined]);
  });

  test('every problem is listed at once, with the other settings’ problems, unknown keys with the key meant', () => {
    const problems = problemsOf(
      ctx({
        schedule: 'daily',
        alarmSlack: { workspaceId: 't-lower', chanelId: 'C0123ABCDEF' },
        alarmTeams: { teamId: 'not-a-uuid', channelId: 'general', tenantId: TENANT },
        alarmWebhooks: [{ secret: WEBHOOK_SECRET, feild: 'url' }, { secret: 'has space' }, 42],
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^schedule 'daily'/),
      "alarmSlack.chanelId is not a known key: did you mean 'alarmSlack.channelId'?",
      expect.stringMatching(/^alarmSlack\.workspaceId 't-lower' is not valid: the workspace ID/),
      expect.stringMatching(/^alarmSlack\.channelId is required: the channel ID/),
      expect.stringMatching(/^alarmTeams\.teamId 'not-a-uuid' is not valid/),
      expect.stringMatching(/^alarmTeams\.channelId 'general' is not valid: the channel's ID from its link/),
      "alarmWebhooks[0].feild is not a known key: did you mean 'alarmWebhooks[0].field'?",
      expect.stringMatching(/^alarmWebhooks\[1\]\.secret 'has space' is not valid/),
      'alarmWebhooks[2] must be an object, got 42.',
    ]);
  });

  test('a webhook URL written inline is refused, and the message does not repeat it (it carries a token)', () => {
    const url = 'https://events.example.com/integration/s3cr3t-t0ken/enqueue';
    const problems = problemsOf(ctx({ alarmWebhooks: [url, 'http://plain.example.com/hook'] }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^alarmWebhooks\[0\] is a URL written inline, .* Store the https:\/\/ URL in Secrets Manager and give \{"secret"/,
    );
    expect(problems.join('\n')).not.toMatch(/s3cr3t|t0ken|events\.example|plain\.example/);
  });

  test('alarmWebhooks must be a list', () => {
    expect(problemsOf(ctx({ alarmWebhooks: { secret: WEBHOOK_SECRET } }))).toEqual([
      expect.stringMatching(/^alarmWebhooks must be a list of \{"secret"/),
    ]);
  });

  test('a misspelt top-level key is pointed at the setting it meant', () => {
    expect(problemsOf(ctx({ alarmSlak: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' } }))).toEqual([
      "alarmSlak is not a known key: did you mean 'alarmSlack'?",
    ]);
  });
});
