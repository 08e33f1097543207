/**
 * The stack and the task agree on the environment: every variable a synthesized CLI container
 * gets (plain or as an ECS secret) is one the task reads, and every variable of the contract is
 * read by the task, either as a setting or as libpq's own (passed to the PostgreSQL clients).
 */
import { appTemplate } from '../support/aws/template';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../../bin/app';
import { SETTINGS, SettingSpec } from '../../task/src/config/settings';
import { ENV } from '../../task/src/contract';
import { everyOptionContext, exampleContext } from '../support/cdk';

/** Read by the task itself (the settings table) or handed to libpq in the clients' environment (PG*). */
const settingVariables = new Set((Object.values(SETTINGS) as SettingSpec[]).flatMap((s) => (s.env ? [s.env] : [])));
const readByTask = (name: string) => settingVariables.has(name as never) || /^PG[A-Z]/.test(name) || name === ENV.tmpdir;

function cliContainers(context: Record<string, unknown>): Array<{ family: string; name: string; variables: string[] }> {
  const t = appTemplate(buildApp(new App({ context })).stack);
  return Object.values(t.Resources as Record<string, any>)
    .filter((r) => r.Type === 'AWS::ECS::TaskDefinition')
    .flatMap((r) =>
      (r.Properties.ContainerDefinitions as any[])
        .filter((c) => c.Name !== 'postgres') // the drill's scratch server is the official image, not the CLI
        .map((c) => ({
          family: r.Properties.Family,
          name: c.Name,
          variables: [...(c.Environment ?? []), ...(c.Secrets ?? [])].map((e: { Name: string }) => e.Name),
        })),
    );
}

test.each([
  ['the committed cdk.json', exampleContext()],
  ['every option on', everyOptionContext()],
])('%s: every variable of every CLI container is one the task reads', (_, context) => {
  const containers = cliContainers(context);
  expect(new Set(containers.map((c) => c.name))).toEqual(new Set(['backup', 'verify', 'restore']));
  const unread = containers.flatMap((c) => c.variables.filter((v) => !readByTask(v)).map((v) => `${c.family}/${c.name}: ${v}`));
  expect(unread).toEqual([]);
  expect(containers.flatMap((c) => c.variables)).toEqual(expect.arrayContaining([ENV.bucket, ENV.prefix, ENV.logFormat, ENV.tmpdir]));
});

test('every variable of the contract is read by the task', () => {
  expect(Object.values(ENV).filter((v) => !readByTask(v))).toEqual([]);
  // and the settings table names no variable outside the contract
  expect([...settingVariables].filter((v) => !(Object.values(ENV) as string[]).includes(v))).toEqual([]);
});
