/**
 * The fields of an AWS service event, from the EventBridge schema registry as
 * `@aws-cdk/aws-service-spec` carries it (e.g. `aws.ecs@ECSTaskStateChange`), so that a rule's
 * pattern and input paths can be checked against what the service really sends: a field that
 * is not in the event matches nothing, and a path to it copies nothing.
 */
import type { Event, EventTypeDefinition, GenericPropertyType } from '@aws-cdk/service-spec-types';
import { specDatabase } from './cfn-schema';

/** Every path (`detail.group`, `detail.containers.exitCode`) of the event's `detail`, arrays looked through. */
export function eventDetailPaths(eventName: string): Set<string> {
  const db = specDatabase();
  const event: Event | undefined = db.lookup('event', 'name', 'equals', eventName)[0];
  if (!event) throw new Error(`no event ${eventName} in @aws-cdk/aws-service-spec`);
  const paths = new Set<string>();
  const walk = (def: EventTypeDefinition, at: string, seen: Set<string>) => {
    for (const [name, prop] of Object.entries(def.properties)) {
      const path = `${at}.${name}`;
      paths.add(path);
      for (const ref of references(prop.type)) {
        if (seen.has(ref)) continue;
        walk(db.get('eventTypeDefinition', ref), path, new Set([...seen, ref]));
      }
    }
  };
  walk(db.get('eventTypeDefinition', event.rootProperty), 'detail', new Set());
  return paths;
}

/** The type definitions a property's type refers to, through arrays, maps and unions. */
function references(type: GenericPropertyType<EventTypeDefinition>): string[] {
  switch (type.type) {
    case 'ref':
      return [type.reference.$ref];
    case 'array':
    case 'map':
      return references(type.element);
    case 'union':
      return type.types.flatMap(references);
    default:
      return [];
  }
}

/** The field paths an EventBridge pattern's `detail` matches on (`detail.containers.exitCode`). */
export function patternPaths(detail: Record<string, unknown>, at = 'detail'): string[] {
  return Object.entries(detail).flatMap(([key, value]) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? patternPaths(value as Record<string, unknown>, `${at}.${key}`)
      : [`${at}.${key}`],
  );
}

/** An input path (`$.detail.containers[0].exitCode`) as a field path (`detail.containers.exitCode`). */
export function inputPathField(path: string): string {
  return path.replace(/^\$\./, '').replace(/\[\d+\]/g, '');
}
