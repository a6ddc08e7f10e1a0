// fast-check generators for request/response bodies of any described API
// and version, built from the same descriptions the codec uses. Test-only.

import fc from 'fast-check';
import { ApiSpec, FieldSpec, FieldType, inRange } from '../schema';

const maxArrayItems = 3;

function scalar(type: string, nullable: boolean): fc.Arbitrary<unknown> {
  let arb: fc.Arbitrary<unknown>;
  switch (type) {
    case 'int8': arb = fc.integer({ min: -128, max: 127 }); break;
    case 'int16': arb = fc.integer({ min: -32768, max: 32767 }); break;
    case 'uint16': arb = fc.integer({ min: 0, max: 0xffff }); break;
    case 'int32': arb = fc.integer(); break;
    case 'uint32': arb = fc.integer({ min: 0, max: 0xffffffff }); break;
    case 'int64': arb = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }); break;
    case 'float64': arb = fc.double({ noNaN: true }); break;
    case 'bool': arb = fc.boolean(); break;
    case 'string': arb = fc.string({ maxLength: 12, unit: 'binary' }); break;
    case 'bytes':
    case 'records': arb = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)); break;
    case 'uuid': arb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)); break;
    default: throw new Error(`no arbitrary for ${type}`);
  }
  return nullable ? fc.option(arb, { nil: null }) : arb;
}

function typeArbitrary(type: FieldType, version: number, flexible: boolean, nullable: boolean): fc.Arbitrary<unknown> {
  if (typeof type === 'string') return scalar(type, nullable);
  let arb: fc.Arbitrary<unknown>;
  if (type.kind === 'struct') arb = structArbitrary(type.fields, version, flexible);
  else arb = fc.array(typeArbitrary(type.element, version, flexible, false), { maxLength: maxArrayItems });
  return nullable ? fc.option(arb, { nil: null }) : arb;
}

/** A body holding a random value for every field present in `version`. */
export function structArbitrary(fields: readonly FieldSpec[], version: number, flexible: boolean): fc.Arbitrary<Record<string, unknown>> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const spec of fields) {
    if (!inRange(spec.versions, version)) continue;
    if (spec.tag !== null && !flexible && inRange(spec.taggedVersions, version)) continue;
    shape[spec.name] = typeArbitrary(spec.type, version, flexible, inRange(spec.nullableVersions, version));
  }
  return fc.record(shape);
}

export function bodyArbitrary(api: ApiSpec, version: number, direction: 'request' | 'response') {
  const flexible = inRange(api.flexibleVersions, version);
  return structArbitrary(direction === 'request' ? api.request : api.response, version, flexible);
}

/** Every (api, version) pair described. */
export function allApiVersions(apis: readonly ApiSpec[]): Array<{ api: ApiSpec; version: number }> {
  return apis.flatMap((api) =>
    Array.from({ length: api.maxVersion - api.minVersion + 1 }, (_, i) => ({ api, version: api.minVersion + i })),
  );
}
