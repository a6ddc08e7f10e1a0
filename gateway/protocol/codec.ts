// One generic codec for every API described under apis/. For each (API,
// version, direction) the field descriptions are compiled once into a plan of
// read/write closures; reading and writing then just walk the plan.
//
// Wire rules it implements (Kafka's):
// - Flexible versions use compact lengths (unsigned varint of length+1, 0 =
//   null) and end every struct with a tagged-field section:
//   uvarint count, then per field uvarint tag, uvarint size, value bytes.
// - Tagged fields are written only when they differ from their default, in
//   ascending tag order. Unknown tags are skipped on read and kept in
//   `_unknownTaggedFields` so re-encoding reproduces them.
// - A nullable struct is prefixed by an int8: -1 null, 1 present.
// - Bodies read hold every field the API knows; a field absent in this
//   version holds its default. Bodies written may leave any field out.

import { ApiSpec, FieldSpec, FieldType, ScalarType, UnknownTaggedField, inRange } from './schema';
import { Reader, Writer } from './wire';

/** A body that cannot be encoded (wrong type, null where not allowed): a bug in the caller. */
export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

type Body = Record<string, unknown> & { _unknownTaggedFields?: UnknownTaggedField[] };

interface FieldPlan {
  readonly name: string;
  readonly tag: number | null;
  readonly minBytes: number;
  readonly read: (r: Reader) => unknown;
  /** Writes a value; undefined means "use the default". */
  readonly write: (w: Writer, v: unknown) => void;
  readonly isDefault: (v: unknown) => boolean;
  /** The default handlers see when the field is missing. */
  readonly makeDefault: () => unknown;
}

export interface StructPlan {
  readonly positional: readonly FieldPlan[];
  /** Tagged fields of this version, sorted by tag. */
  readonly tagged: readonly FieldPlan[];
  readonly taggedByTag: ReadonlyMap<number, FieldPlan>;
  /** Fields the API has but this version lacks: filled with defaults on read. */
  readonly absent: ReadonlyArray<{ name: string; make: () => unknown }>;
  readonly flexible: boolean;
  readonly minBytes: number;
}

// ---- Defaults ----

function emptyOf(type: FieldType): () => unknown {
  if (typeof type !== 'string') {
    if (type.kind === 'array') return () => [];
    const fields = type.fields;
    return () => structDefault(fields);
  }
  switch (type) {
    case 'int64': return () => 0n;
    case 'bool': return () => false;
    case 'string': return () => '';
    case 'bytes': case 'records': return () => Buffer.alloc(0);
    case 'uuid': return () => Buffer.alloc(16);
    default: return () => 0;
  }
}

/** Default as handlers see it, independent of version: null for anything nullable somewhere. */
function versionlessDefault(spec: FieldSpec): () => unknown {
  if (spec.defaultValue !== undefined) {
    const d = spec.defaultValue;
    return () => d;
  }
  if (spec.nullableVersions !== null && (spec.type === 'string' || spec.type === 'bytes' || spec.type === 'records')) {
    return () => null;
  }
  return emptyOf(spec.type);
}

function structDefault(fields: readonly FieldSpec[]): Body {
  const out: Body = {};
  for (const spec of fields) out[spec.name] = versionlessDefault(spec)();
  return out;
}

// ---- Compilation ----

interface TypeCodec {
  readonly minBytes: number;
  readonly read: (r: Reader) => unknown;
  /** Writes a non-null value. */
  readonly write: (w: Writer, v: unknown) => void;
}

function scalarCodec(type: ScalarType, compact: boolean, path: string): TypeCodec {
  switch (type) {
    case 'int8': return { minBytes: 1, read: (r) => r.int8(), write: (w, v) => w.int8(v as number) };
    case 'int16': return { minBytes: 2, read: (r) => r.int16(), write: (w, v) => w.int16(v as number) };
    case 'uint16': return { minBytes: 2, read: (r) => r.uint16(), write: (w, v) => w.uint16(v as number) };
    case 'int32': return { minBytes: 4, read: (r) => r.int32(), write: (w, v) => w.int32(v as number) };
    case 'uint32': return { minBytes: 4, read: (r) => r.uint32(), write: (w, v) => w.uint32(v as number) };
    case 'float64': return { minBytes: 8, read: (r) => r.float64(), write: (w, v) => w.float64(v as number) };
    case 'bool': return { minBytes: 1, read: (r) => r.bool(), write: (w, v) => w.bool(v as boolean) };
    case 'int64':
      return { minBytes: 8, read: (r) => r.int64(), write: (w, v) => w.int64(toBigInt(v, path)) };
    case 'uuid':
      return {
        minBytes: 16,
        read: (r) => Buffer.from(r.slice(16)),
        write: (w, v) => {
          if (!Buffer.isBuffer(v) || v.length !== 16) throw new SchemaError(`${path}: uuid must be a 16-byte Buffer`);
          w.raw(v);
        },
      };
    case 'string':
      return {
        minBytes: compact ? 1 : 2,
        read: (r) => {
          const n = readLength(r, compact, false, path);
          return n < 0 ? null : r.utf8(n);
        },
        write: (w, v) => {
          if (typeof v !== 'string') throw new SchemaError(`${path}: expected a string, got ${typeof v}`);
          const n = Buffer.byteLength(v, 'utf8');
          if (!compact && n > 0x7fff) throw new SchemaError(`${path}: string of ${n} bytes exceeds 32767`);
          writeLength(w, compact, false, n);
          w.utf8(v, n);
        },
      };
    case 'bytes':
    case 'records':
      return {
        minBytes: compact ? 1 : 4,
        read: (r) => {
          const n = readLength(r, compact, true, path);
          return n < 0 ? null : r.slice(n);
        },
        write: (w, v) => {
          if (type === 'records' && Array.isArray(v)) return writeRecordChunks(w, compact, v, path);
          if (!Buffer.isBuffer(v)) throw new SchemaError(`${path}: expected a Buffer`);
          writeLength(w, compact, true, v.length);
          w.raw(v);
        },
      };
  }
}

/** Record batches given as several buffers: one length, then each buffer by reference. */
function writeRecordChunks(w: Writer, compact: boolean, chunks: readonly unknown[], path: string): void {
  let n = 0;
  for (const c of chunks) {
    if (!Buffer.isBuffer(c)) throw new SchemaError(`${path}: expected Buffers`);
    n += c.length;
  }
  writeLength(w, compact, true, n);
  for (const c of chunks as Buffer[]) w.raw(c);
}

function toBigInt(v: unknown, path: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new SchemaError(`${path}: int64 must be a bigint or a safe integer, got ${String(v)}`);
}

/** Reads a length; returns -1 for null (any negative in classic encoding, as Kafka does). */
function readLength(r: Reader, compact: boolean, wide: boolean, path: string): number {
  const n = compact ? r.uvarint() - 1 : wide ? r.int32() : r.int16();
  if (n < 0) return -1;
  if (n > r.remaining) r.fail(`${path}: length ${n} exceeds the ${r.remaining} bytes left`);
  return n;
}

function writeLength(w: Writer, compact: boolean, wide: boolean, n: number): void {
  if (compact) w.uvarint(n + 1);
  else if (wide) w.int32(n);
  else w.int16(n);
}

function writeNull(w: Writer, type: FieldType, compact: boolean): void {
  if (typeof type !== 'string' && type.kind === 'struct') w.int8(-1);
  else if (compact) w.uvarint(0);
  else if (type === 'string') w.int16(-1);
  else w.int32(-1);
}

function typeCodec(type: FieldType, version: number, apiFlexible: boolean, compact: boolean, path: string): TypeCodec {
  if (typeof type === 'string') return scalarCodec(type, compact, path);
  if (type.kind === 'struct') {
    const plan = compileStruct(type.fields, version, apiFlexible, path);
    return { minBytes: plan.minBytes, read: (r) => readStruct(r, plan), write: (w, v) => writeStruct(w, plan, v as Body) };
  }
  const element = typeCodec(type.element, version, apiFlexible, compact, `${path}[]`);
  // An element may encode to 0 bytes; count it as 1 so a claimed count is always bounded by the bytes left.
  const elementMinBytes = Math.max(1, element.minBytes);
  return {
    minBytes: compact ? 1 : 4,
    read: (r) => {
      const n = compact ? r.uvarint() - 1 : r.int32();
      if (n < 0) return null;
      if (n > r.limits.maxArrayLength) r.fail(`${path}: array of ${n} exceeds the limit of ${r.limits.maxArrayLength}`);
      if (n * elementMinBytes > r.remaining) {
        r.fail(`${path}: array of ${n} needs at least ${n * elementMinBytes} bytes but ${r.remaining} remain`);
      }
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) {
        // Elements are never nullable in Kafka's schemas; a null-length string here is malformed.
        const item = element.read(r);
        if (item === null) r.fail(`${path}[${i}]: array elements cannot be null`);
        out[i] = item;
      }
      return out;
    },
    write: (w, v) => {
      if (!Array.isArray(v)) throw new SchemaError(`${path}: expected an array`);
      writeLength(w, compact, true, v.length);
      for (const item of v) {
        if (item === null || item === undefined) throw new SchemaError(`${path}: array elements cannot be null`);
        element.write(w, item);
      }
    },
  };
}

function isDefaultValue(type: FieldType, def: unknown, v: unknown): boolean {
  if (v === null || def === null) return v === def;
  if (typeof type !== 'string') {
    if (type.kind === 'array') return Array.isArray(v) && v.length === 0;
    const body = v as Body;
    return type.fields.every((spec) => {
      const sub = body[spec.name];
      return sub === undefined || isDefaultValue(spec.type, versionlessDefault(spec)(), sub);
    }) && !body._unknownTaggedFields?.length;
  }
  if (Buffer.isBuffer(v)) return Buffer.isBuffer(def) && v.equals(def);
  if (type === 'int64') return typeof def === 'bigint' && (typeof v === 'bigint' || typeof v === 'number') && BigInt(v) === def;
  return v === def;
}

function compileField(spec: FieldSpec, version: number, apiFlexible: boolean, parentPath: string): FieldPlan {
  const path = `${parentPath}.${spec.name}`;
  const compact = spec.flexibleVersions !== null ? inRange(spec.flexibleVersions, version) : apiFlexible;
  const nullable = inRange(spec.nullableVersions, version);
  const tagged = apiFlexible && inRange(spec.taggedVersions, version);
  const codec = typeCodec(spec.type, version, apiFlexible, compact, path);
  const isStruct = typeof spec.type !== 'string' && spec.type.kind === 'struct';
  const makeDefault = versionlessDefault(spec);
  // A default of null in a version where the field is not nullable is sent as the empty value.
  const writeDefault = (): unknown => {
    const d = makeDefault();
    return d === null && !nullable ? emptyOf(spec.type)() : d;
  };
  let read = codec.read;
  if (isStruct && nullable) read = (r) => (r.int8() < 0 ? null : codec.read(r));
  else if (!nullable && !isStruct) {
    read = (r) => {
      const v = codec.read(r);
      if (v === null) r.fail(`${path}: null is not allowed in v${version}`);
      return v;
    };
  }
  return {
    name: spec.name,
    tag: tagged ? spec.tag : null,
    minBytes: nullable && isStruct ? 1 : codec.minBytes,
    read,
    makeDefault,
    write: (w, v) => {
      if (v === undefined) v = writeDefault();
      if (v === null) {
        if (!nullable) throw new SchemaError(`${path}: null is not allowed in v${version}`);
        writeNull(w, spec.type, compact);
        return;
      }
      if (nullable && isStruct) w.int8(1);
      codec.write(w, v);
    },
    isDefault: (v) => isDefaultValue(spec.type, makeDefault(), v),
  };
}

function compileStruct(fields: readonly FieldSpec[], version: number, apiFlexible: boolean, path: string): StructPlan {
  const positional: FieldPlan[] = [];
  const tagged: FieldPlan[] = [];
  const absent: Array<{ name: string; make: () => unknown }> = [];
  for (const spec of fields) {
    if (!inRange(spec.versions, version)) {
      absent.push({ name: spec.name, make: versionlessDefault(spec) });
      continue;
    }
    const plan = compileField(spec, version, apiFlexible, path);
    (plan.tag === null ? positional : tagged).push(plan);
  }
  tagged.sort((a, b) => a.tag! - b.tag!);
  const minBytes = positional.reduce((sum, p) => sum + p.minBytes, apiFlexible ? 1 : 0);
  return {
    positional,
    tagged,
    taggedByTag: new Map(tagged.map((p) => [p.tag!, p])),
    absent,
    flexible: apiFlexible,
    minBytes,
  };
}

// ---- Reading and writing structs ----

export function readStruct(r: Reader, plan: StructPlan): Body {
  const out: Body = {};
  for (const p of plan.positional) out[p.name] = p.read(r);
  if (plan.flexible) {
    for (const p of plan.tagged) out[p.name] = p.makeDefault();
    readTaggedFields(r, plan, out);
  }
  for (const a of plan.absent) out[a.name] = a.make();
  return out;
}

export function readTaggedFields(r: Reader, plan: StructPlan | null, out: Body): void {
  const count = r.uvarint();
  // Each tagged field takes at least 2 bytes (tag and size).
  if (count * 2 > r.remaining) r.fail(`tagged field count ${count} exceeds the bytes left`);
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint();
    const size = r.uvarint();
    if (size > r.remaining) r.fail(`tagged field ${tag} of ${size} bytes exceeds the bytes left`);
    const known = plan?.taggedByTag.get(tag);
    if (known) {
      out[known.name] = known.read(r.sub(size));
    } else {
      (out._unknownTaggedFields ??= []).push({ tag, data: r.slice(size) });
    }
  }
}

export function writeStruct(w: Writer, plan: StructPlan, body: Body | undefined): void {
  const src: Body = body ?? {};
  for (const p of plan.positional) p.write(w, src[p.name]);
  if (plan.flexible) writeTaggedFields(w, plan.tagged, src);
}

export function writeTaggedFields(w: Writer, tagged: readonly FieldPlan[], src: Body): void {
  const entries: Array<{ tag: number; bytes: Writer | Buffer }> = [];
  for (const p of tagged) {
    const v = src[p.name];
    if (v === undefined || p.isDefault(v)) continue;
    const sub = new Writer(64);
    p.write(sub, v);
    entries.push({ tag: p.tag!, bytes: sub });
  }
  for (const u of src._unknownTaggedFields ?? []) {
    if (!tagged.some((p) => p.tag === u.tag)) entries.push({ tag: u.tag, bytes: u.data });
  }
  entries.sort((a, b) => a.tag - b.tag);
  w.uvarint(entries.length);
  for (const e of entries) {
    w.uvarint(e.tag);
    if (Buffer.isBuffer(e.bytes)) {
      w.uvarint(e.bytes.length);
      w.raw(e.bytes);
    } else {
      w.uvarint(e.bytes.length);
      w.append(e.bytes);
    }
  }
}

// ---- Plans per API ----

export interface ApiPlans {
  readonly request: StructPlan;
  readonly response: StructPlan;
  readonly flexible: boolean;
}

export function compileApi(api: ApiSpec): Map<number, ApiPlans> {
  const plans = new Map<number, ApiPlans>();
  for (let v = api.minVersion; v <= api.maxVersion; v++) {
    const flexible = inRange(api.flexibleVersions, v);
    plans.set(v, {
      request: compileStruct(api.request, v, flexible, `${api.name}Request v${v}`),
      response: compileStruct(api.response, v, flexible, `${api.name}Response v${v}`),
      flexible,
    });
  }
  return plans;
}
