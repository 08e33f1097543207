/**
 * A CloudFormation template checker driven by `@aws-cdk/aws-service-spec`: the database of CloudFormation
 * registry schemas that aws-cdk-lib's L1 classes are generated from. It checks resource types, property
 * names, required properties, value shapes (primitives, arrays, maps, nested types, unions) and allowed values.
 *
 * Enums: the spec does carry them. String types may have `allowedValues` (about 4,000 of them, e.g.
 * AWS::Scheduler::Schedule State: ENABLED | DISABLED), and a few integer types do too (AWS::Logs::LogGroup
 * RetentionInDays). Literal values are checked against them; intrinsics are not.
 *
 * Scalars are checked the way CloudFormation (and cfn-lint's default, non-strict mode) treat them: numbers
 * and booleans are accepted for strings, numeric strings for numbers and 'true'/'false' for booleans,
 * because CloudFormation converts them; an object or array where a scalar is wanted is always a problem.
 * A property's `previousTypes` are accepted too, as aws-cdk-lib's L1 classes accept them: older (usually looser)
 * versions of the spec typed the property that way, and templates written against them must keep passing.
 */
import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import type { Property, PropertyType, Resource, SpecDatabase } from '@aws-cdk/service-spec-types';

const TEMPLATE_KEYS = new Set([
  'AWSTemplateFormatVersion', 'Description', 'Metadata', 'Parameters', 'Rules', 'Mappings', 'Conditions',
  'Transform', 'Resources', 'Outputs',
]); // prettier-ignore
const RESOURCE_KEYS = new Set([
  'Type', 'Properties', 'DependsOn', 'Condition', 'Metadata', 'DeletionPolicy', 'UpdateReplacePolicy', 'UpdatePolicy',
  'CreationPolicy',
]); // prettier-ignore
/** Intrinsics that yield a scalar (a string or, for Fn::Length, a number), usable wherever a scalar is. */
const SCALAR_INTRINSICS = new Set([
  'Ref', 'Fn::GetAtt', 'Fn::Join', 'Fn::Sub', 'Fn::Select', 'Fn::ImportValue', 'Fn::FindInMap', 'Fn::Base64',
  'Fn::Length', 'Fn::ToJsonString',
]); // prettier-ignore
/** Intrinsics that always yield a list: wrong in a scalar position, fine in a list one. */
const LIST_INTRINSICS = new Set(['Fn::GetAZs', 'Fn::Split', 'Fn::Cidr']);

let cachedDb: SpecDatabase | undefined;
/** The database is 2.6 MB gzipped (15 MB of JSON, about 1 s to load), so it is loaded once per process, on first use. */
export function specDatabase(): SpecDatabase {
  return (cachedDb ??= loadAwsServiceSpecSync());
}

/** Problems found in a synthesized CloudFormation template (the JSON object of Template.toJSON() or a cdk.out *.template.json); [] when none. */
export function cfnSchemaProblems(template: Record<string, any>): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(template)) if (!TEMPLATE_KEYS.has(key)) problems.push(`Template: unknown top-level key ${key}`);
  if (!isObject(template.Resources)) return [...problems, 'Template: Resources must be an object of resources'];

  for (const [id, resource] of Object.entries<any>(template.Resources)) {
    if (!isObject(resource)) {
      problems.push(`${id}: a resource must be an object, got ${describe(resource)}`);
      continue;
    }
    for (const key of Object.keys(resource)) if (!RESOURCE_KEYS.has(key)) problems.push(`${id}: unknown resource attribute ${key}`);
    const type: unknown = resource.Type;
    if (typeof type !== 'string') {
      problems.push(`${id}.Type: expected a resource type string, got ${describe(type)}`);
      continue;
    }
    if (type === 'AWS::CDK::Metadata') continue;
    // Custom resources take any properties; the spec's CustomResource entry still says ServiceToken is required.
    const custom = type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';
    const entry = findResource(custom ? 'AWS::CloudFormation::CustomResource' : type);
    if (!entry) {
      problems.push(`${id}.Type: unknown resource type ${type}`);
      continue;
    }
    const path = `${id}.Properties`;
    const props: unknown = resource.Properties ?? {};
    if (!isObject(props)) problems.push(`${path}: expected an object, got ${describe(props)}`);
    else problems.push(...checkProperties(props, entry.properties, path, template, custom));
  }
  return problems;
}

function findResource(cfnType: string): Resource | undefined {
  return specDatabase().lookup('resource', 'cloudFormationType', 'equals', cfnType)[0];
}

/** Checks an object against a resource's or type definition's properties; `open` allows names outside the spec. */
function checkProperties(value: Record<string, unknown>, props: Record<string, Property>, path: string, template: any, open = false) {
  const problems: string[] = [];
  for (const [name, prop] of Object.entries(props)) {
    if (prop.required && !(name in value)) problems.push(`${path}: missing required property ${name}`);
  }
  for (const [name, v] of Object.entries(value)) {
    const prop = props[name];
    if (prop) problems.push(...checkAnyOf(v, [prop.type, ...(prop.previousTypes ?? [])], `${path}.${name}`, template));
    else if (!open) problems.push(`${path}.${name}: unknown property (known: ${Object.keys(props).sort().join(', ') || 'none'})`);
  }
  return problems;
}

/** A value fits if it fits any of the types; otherwise report the candidate that came closest (fewest problems). */
function checkAnyOf(value: unknown, types: PropertyType[], path: string, template: any): string[] {
  let best: string[] | undefined;
  for (const type of types) {
    const problems = check(value, type, path, template);
    if (problems.length === 0) return [];
    if (!best || problems.length < best.length) best = problems;
  }
  // When no candidate even has the right shape, say what would have fitted rather than one candidate's complaint.
  if (types.length > 1 && best?.length === 1 && best[0].startsWith(`${path}: expected `))
    return mismatch(path, { type: 'union', types: types.flatMap(members) }, value);
  return best ?? [];
}

function check(value: unknown, type: PropertyType, path: string, template: any): string[] {
  if (type.type === 'union') return checkAnyOf(value, type.types, path, template);
  if (type.type === 'json') return isObject(value) ? [] : mismatch(path, type, value);
  const fn = intrinsicName(value);
  if (fn) return checkIntrinsic(fn, (value as any)[fn], type, path, template);

  // Built only when needed: describing a large value on every successful check would be wasted work.
  const wrong = () => mismatch(path, type, value);
  switch (type.type) {
    case 'string':
      if (!['string', 'number', 'boolean'].includes(typeof value)) return wrong();
      return type.allowedValues && !type.allowedValues.includes(String(value)) ? notAllowed(path, value, type.allowedValues) : [];
    case 'number':
      return isNumeric(value) ? [] : wrong();
    case 'integer':
      if (!isNumeric(value) || !Number.isInteger(Number(value))) return wrong();
      return type.allowedValues && !type.allowedValues.includes(Number(value)) ? notAllowed(path, value, type.allowedValues) : [];
    case 'boolean':
      return typeof value === 'boolean' || value === 'true' || value === 'false' ? [] : wrong();
    case 'date-time':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? [] : wrong();
    case 'null':
      return value === null ? [] : wrong();
    case 'tag': {
      // The legacy tag type is { Key, Value } with both strings, as CfnTag renders it.
      const stringType: PropertyType = { type: 'string' };
      const props = { Key: { type: stringType, required: true }, Value: { type: stringType, required: true } };
      return isObject(value) ? checkProperties(value, props, path, template) : wrong();
    }
    case 'ref':
      return isObject(value)
        ? checkProperties(value, specDatabase().get('typeDefinition', type.reference).properties, path, template)
        : wrong();
    case 'array':
      return Array.isArray(value) ? value.flatMap((e, i) => check(e, type.element, `${path}[${i}]`, template)) : wrong();
    case 'map':
      if (!isObject(value)) return wrong();
      return Object.entries(value).flatMap(([k, v]) => check(v, type.element, `${path}[${JSON.stringify(k)}]`, template));
  }
}

/**
 * An intrinsic's result is only known at deploy time, so only its kind is checked: scalar intrinsics fit
 * scalars, list intrinsics fit lists, and Fn::If is checked branch by branch (AWS::NoValue removes the value).
 */
function checkIntrinsic(fn: string, args: any, type: PropertyType, path: string, template: any): string[] {
  if (fn === 'Ref' && args === 'AWS::NoValue') return [];
  if (fn === 'Fn::If') {
    if (!Array.isArray(args) || args.length !== 3) return [`${path}: Fn::If takes [condition, ifTrue, ifFalse]`];
    return [...check(args[1], type, `${path}.Fn::If[1]`, template), ...check(args[2], type, `${path}.Fn::If[2]`, template)];
  }
  const scalar = ['string', 'number', 'integer', 'boolean', 'date-time'].includes(type.type);
  if (scalar && SCALAR_INTRINSICS.has(fn)) return [];
  if (type.type === 'array' && (LIST_INTRINSICS.has(fn) || fn === 'Fn::FindInMap' || yieldsList(fn, args, template))) return [];
  const known = SCALAR_INTRINSICS.has(fn) || LIST_INTRINSICS.has(fn);
  return [`${path}: ${known ? `${fn} cannot produce` : `unsupported intrinsic ${fn} in place of`} ${typeName(type)}`];
}

/** Whether a Ref or Fn::GetAtt yields a list: a list parameter, AWS::NotificationARNs, or a list-typed attribute. */
function yieldsList(fn: string, args: any, template: any): boolean {
  if (fn === 'Ref') return args === 'AWS::NotificationARNs' || /List/.test(String(template.Parameters?.[args]?.Type ?? ''));
  if (fn !== 'Fn::GetAtt') return false;
  const [id, attr] = Array.isArray(args) ? args : String(args).split(/\.(.*)/);
  const type: unknown = template.Resources?.[id]?.Type;
  if (typeof type !== 'string' || type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource') return true;
  return findResource(type)?.attributes[String(attr)]?.type.type === 'array';
}

/** An intrinsic is how CloudFormation recognises one: an object with a single key, Ref or Fn::*. */
function intrinsicName(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::')) ? keys[0] : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNumeric(value: unknown): boolean {
  return typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)));
}

function mismatch(path: string, type: PropertyType, value: unknown): string[] {
  return [`${path}: expected ${typeName(type)}, got ${describe(value)}`];
}

function notAllowed(path: string, value: unknown, allowed: Array<string | number>): string[] {
  return [`${path}: ${JSON.stringify(value)} is not an allowed value (allowed: ${allowed.join(', ')})`];
}

/** A union's members, with nested unions (a union-typed property whose previous type was one member) flattened. */
function members(type: PropertyType): PropertyType[] {
  return type.type === 'union' ? type.types.flatMap(members) : [type];
}

function typeName(type: PropertyType): string {
  switch (type.type) {
    case 'ref':
      return `object (${specDatabase().get('typeDefinition', type.reference).name})`;
    case 'array':
      return `array of ${typeName(type.element)}`;
    case 'map':
      return `map of ${typeName(type.element)}`;
    case 'union':
      return [...new Set(type.types.map(typeName))].join(' | ');
    case 'json':
      return 'JSON object';
    case 'tag':
      return 'tag { Key, Value }';
    default:
      return type.type;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const kind = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  const text = JSON.stringify(value) ?? typeof value;
  return `${kind} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}
