// The vocabulary for describing Kafka APIs as data. Each API under apis/
// lists its request and response fields once, each with the versions it
// exists in; codec.ts reads and writes every version from that description.
// The descriptions are `const`-typed, so body types are inferred from them
// (see RequestOf / ResponseOf) and never drift from what the codec does.

export type ScalarType =
  | 'int8' | 'int16' | 'int32' | 'int64' | 'uint16' | 'uint32' | 'float64'
  | 'bool' | 'string' | 'bytes' | 'records' | 'uuid';

export interface StructType<Fs extends readonly FieldSpec[] = readonly FieldSpec[]> {
  readonly kind: 'struct';
  readonly fields: Fs;
}

export interface ArrayType<E extends ScalarType | StructType = ScalarType | StructType> {
  readonly kind: 'array';
  readonly element: E;
}

export type FieldType = ScalarType | StructType | ArrayType;

/** Inclusive version range; `max` is Infinity for an open range ("3+"). */
export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export interface FieldOptions {
  /** Versions in which the field may be null (Kafka's nullableVersions). */
  readonly nullable?: string;
  /** Tag number, for fields sent in the tagged-field section. */
  readonly tag?: number;
  /** Versions in which the field is tagged rather than positional. */
  readonly tagged?: string;
  /** Versions in which this field uses compact encoding, overriding the API's. */
  readonly flexible?: string;
  /** Value used when a body leaves the field out or a version lacks it. */
  readonly default?: number | bigint | string | boolean | null;
}

export interface FieldSpec<
  N extends string = string,
  T extends FieldType = FieldType,
  Nullable extends boolean = boolean,
> {
  readonly name: N;
  readonly type: T;
  readonly versions: VersionRange;
  readonly nullableVersions: VersionRange | null;
  readonly tag: number | null;
  readonly taggedVersions: VersionRange | null;
  readonly flexibleVersions: VersionRange | null;
  readonly defaultValue: FieldOptions['default'] | undefined;
  /** Type-level marker only: whether the field is nullable in some version. */
  readonly nullableMarker?: Nullable;
}

export interface ApiSpec<
  Req extends readonly FieldSpec[] = readonly FieldSpec[],
  Res extends readonly FieldSpec[] = readonly FieldSpec[],
  Name extends string = string,
  Key extends number = number,
> {
  readonly apiKey: Key;
  readonly name: Name;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleVersions: VersionRange | null;
  readonly request: Req;
  readonly response: Res;
}

/** Parses Kafka's version notation: "3+", "0-7", "5", or "none". */
export function parseVersions(text: string): VersionRange | null {
  if (text === 'none') return null;
  const open = /^(\d+)\+$/.exec(text);
  if (open) return { min: Number(open[1]), max: Infinity };
  const closed = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!closed) throw new Error(`bad version range "${text}": expected "N", "N-M", "N+" or "none"`);
  const min = Number(closed[1]);
  const max = closed[2] === undefined ? min : Number(closed[2]);
  if (max < min) throw new Error(`bad version range "${text}": max below min`);
  return { min, max };
}

export function inRange(range: VersionRange | null, version: number): boolean {
  return range !== null && version >= range.min && version <= range.max;
}

export function f<
  const N extends string,
  const T extends FieldType,
  const O extends FieldOptions = Record<never, never>,
>(name: N, type: T, versions: string, options?: O): FieldSpec<N, T, O extends { nullable: string } ? true : false> {
  const range = parseVersions(versions);
  if (range === null) throw new Error(`field ${name} exists in no version`);
  const hasTag = options?.tag !== undefined;
  if (hasTag !== (options?.tagged !== undefined)) {
    throw new Error(`field ${name}: tag and tagged versions go together`);
  }
  return {
    name,
    type,
    versions: range,
    nullableVersions: options?.nullable === undefined ? null : parseVersions(options.nullable),
    tag: hasTag ? options!.tag! : null,
    taggedVersions: options?.tagged === undefined ? null : parseVersions(options.tagged),
    flexibleVersions: options?.flexible === undefined ? null : parseVersions(options.flexible),
    defaultValue: options?.default,
  };
}

export function struct<const Fs extends readonly FieldSpec[]>(...fields: Fs): StructType<Fs> {
  return { kind: 'struct', fields };
}

export function arrayOf<const E extends ScalarType | StructType>(element: E): ArrayType<E> {
  return { kind: 'array', element };
}

export function defineApi<
  const Req extends readonly FieldSpec[],
  const Res extends readonly FieldSpec[],
  const Name extends string,
  const Key extends number,
>(api: {
  apiKey: Key;
  name: Name;
  versions: string;
  flexible: string;
  request: Req;
  response: Res;
}): ApiSpec<Req, Res, Name, Key> {
  const range = parseVersions(api.versions);
  if (range === null || range.max === Infinity) {
    throw new Error(`${api.name}: versions must be a closed range, got "${api.versions}"`);
  }
  return {
    apiKey: api.apiKey,
    name: api.name,
    minVersion: range.min,
    maxVersion: range.max,
    flexibleVersions: parseVersions(api.flexible),
    request: api.request,
    response: api.response,
  };
}

// ---- Types inferred from descriptions ----

interface ScalarValues {
  int8: number; int16: number; int32: number; int64: bigint; uint16: number; uint32: number;
  float64: number; bool: boolean; string: string; bytes: Buffer; records: Buffer; uuid: Buffer;
}

/** A tagged field this codec does not know, kept so it can be written back. */
export interface UnknownTaggedField {
  tag: number;
  data: Buffer;
}

type ValueOf<T> = T extends ScalarType
  ? ScalarValues[T]
  : T extends StructType<infer Fs>
    ? BodyOf<Fs>
    : T extends ArrayType<infer E>
      ? ValueOf<E>[]
      : never;

type NullIf<F> = F extends FieldSpec<string, FieldType, true> ? null : never;

/** A decoded body: every field of every version is present (absent ones hold defaults). */
export type BodyOf<Fs extends readonly FieldSpec[]> = {
  [F in Fs[number] as F['name']]: ValueOf<F['type']> | NullIf<F>;
} & { _unknownTaggedFields?: UnknownTaggedField[] };

/** Record batches to encode: one buffer, or several written back to back (views of what a Fetch read, never concatenated). */
export type RecordsInput = Buffer | readonly Buffer[];

type InputValueOf<T> = T extends 'int64'
  ? bigint | number
  : T extends 'records'
    ? RecordsInput
  : T extends ScalarType
    ? ScalarValues[T]
    : T extends StructType<infer Fs>
      ? InputOf<Fs>
      : T extends ArrayType<infer E>
        ? InputValueOf<E>[]
        : never;

/** A body to encode: any field may be left out and gets its default. */
export type InputOf<Fs extends readonly FieldSpec[]> = {
  [F in Fs[number] as F['name']]?: InputValueOf<F['type']> | NullIf<F>;
} & { _unknownTaggedFields?: UnknownTaggedField[] };

export type RequestOf<A extends ApiSpec> = BodyOf<A['request']>;
export type ResponseOf<A extends ApiSpec> = BodyOf<A['response']>;
export type RequestInputOf<A extends ApiSpec> = InputOf<A['request']>;
export type ResponseInputOf<A extends ApiSpec> = InputOf<A['response']>;
