/**
 * The stack (lib/) and the task (task/src/) agree through task/src/contract only: no value of
 * the contract (environment variable, metric, log event, SSL mode, key suffix, pattern,
 * default namespace) may be written as a literal on both sides. Found with TypeScript's own
 * parser: string and template literals (whole, or as a word in a message), regular
 * expression literals, and object keys such as `{ PGHOST: … }`. Comments do not count.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';
import * as contract from '../../../../task/src/contract';

const ROOT = join(__dirname, '..', '..', '..', '..');

function files(dir: string, skip: string[] = []): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (skip.includes(path)) return [];
    if (statSync(path).isDirectory()) return files(path, skip);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Every literal of a file: [kind, text]. */
function literalsOf(path: string): Array<{ kind: 'string' | 'regex' | 'key'; text: string }> {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Array<{ kind: 'string' | 'regex' | 'key'; text: string }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) out.push({ kind: 'string', text: node.text });
    else if (ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) out.push({ kind: 'string', text: node.text });
    else if (ts.isRegularExpressionLiteral(node)) out.push({ kind: 'regex', text: node.text });
    else if ((ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) && ts.isIdentifier(node.name))
      out.push({ kind: 'key', text: node.name.text });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** The contract's values, each with how it may be spotted: as a word inside messages, or only whole. */
function contractValues(): Array<{ value: string; inProse: boolean; regex?: boolean }> {
  const words = [
    ...Object.values(contract.ENV),
    ...Object.values(contract.METRICS),
    ...Object.values(contract.EVENTS),
    contract.DEFAULT_METRICS_NAMESPACE,
  ];
  return [
    ...words.map((value) => ({ value, inProse: true })),
    ...contract.SSL_MODES.map((value) => ({ value, inProse: false })),
    ...[contract.DUMP_SUFFIX, contract.MANIFEST_SUFFIX, contract.GLOBALS_SUFFIX].map((value) => ({ value, inProse: false })),
    ...[contract.COMPRESSION_PATTERN, contract.BUCKET_NAME_PATTERN].map((re) => ({ value: String(re), inProse: false, regex: true })),
  ];
}

function sidesUsing(
  value: { value: string; inProse: boolean; regex?: boolean },
  sides: Record<string, string[]>,
): Record<string, string[]> {
  const word = new RegExp(`(^|[^A-Za-z0-9_.])${value.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9_])`);
  const found: Record<string, string[]> = {};
  for (const [side, paths] of Object.entries(sides))
    for (const path of paths) {
      const hit = literalsOf(path).some((l) =>
        value.regex
          ? l.kind === 'regex' && l.text === value.value
          : l.kind !== 'regex' && (l.text === value.value || (value.inProse && l.kind === 'string' && word.test(l.text))),
      );
      if (hit) (found[side] ??= []).push(relative(ROOT, path));
    }
  return found;
}

test('no value of the contract is written out both in lib/ and in task/src/ (outside task/src/contract)', () => {
  const sides = {
    lib: files(join(ROOT, 'lib')),
    task: files(join(ROOT, 'task', 'src'), [join(ROOT, 'task', 'src', 'contract')]),
  };
  expect(sides.lib.length).toBeGreaterThan(10);
  expect(sides.task.length).toBeGreaterThan(20);
  const onBoth = contractValues()
    .map((v) => ({ value: v.value, where: sidesUsing(v, sides) }))
    .filter((v) => v.where.lib && v.where.task);
  expect(onBoth).toEqual([]);
});

test('the scan finds a contract value written as a literal (it is not blind)', () => {
  const lib = [join(ROOT, 'test', 'fixtures', 'contract-literal-probe.ts')];
  expect(sidesUsing({ value: 'BACKUP_BUCKET', inProse: true }, { lib })).toEqual({ lib: ['test/fixtures/contract-literal-probe.ts'] });
  expect(sidesUsing({ value: 'BackupSuccess', inProse: true }, { lib })).toEqual({ lib: ['test/fixtures/contract-literal-probe.ts'] });
  expect(sidesUsing({ value: 'PGHOST', inProse: true }, { lib })).toEqual({ lib: ['test/fixtures/contract-literal-probe.ts'] });
  expect(sidesUsing({ value: String(contract.BUCKET_NAME_PATTERN), inProse: false, regex: true }, { lib })).toEqual({
    lib: ['test/fixtures/contract-literal-probe.ts'],
  });
  // In a comment only: not a literal.
  expect(sidesUsing({ value: 'BACKUP_GLOBALS', inProse: true }, { lib })).toEqual({});
});
