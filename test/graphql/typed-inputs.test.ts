// The typed mutations' GraphQL inputs are written by hand beside the zod schemas their job
// types validate with; this compares them field by field (names, Int vs Float, lists, nested
// objects, enum values, required-ness), so a field added to one and not the other fails here
// instead of being refused (or silently dropped) at submit time.
import { getNullableType, isEnumType, isInputObjectType, isListType, isNonNullType, isScalarType, type GraphQLInputType } from "graphql";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { JobTypeDefinition } from "../../src/engine/types.ts";
import { AUDIO_ENCODERS, IMAGE_ENCODERS, VIDEO_ENCODERS } from "../../src/processors/media/inputs.ts";
import { JOB_TYPES } from "../../src/processors/job-types.ts";
import { buildSchema } from "../../src/graphql/schema.ts";

/** Fields every typed mutation takes besides its job type's own input. */
const ENVELOPE = new Set(["videoId", "documentId", "priority", "idempotencyKey", "webhookUrl"]);

/** An ffmpeg that can encode everything, so codec enums are not narrowed. */
const allEncoders = new Set([VIDEO_ENCODERS, AUDIO_ENCODERS, IMAGE_ENCODERS].flatMap((t) => Object.values(t).flat()));
const deps = { ffmpeg: { capabilities: { encoders: allEncoders, filters: new Set<string>(), muxers: new Set<string>(), demuxers: new Set<string>() } } };

type Json = { type?: string | string[]; enum?: unknown[]; const?: unknown; items?: Json; properties?: Record<string, Json>; required?: string[]; anyOf?: Json[]; oneOf?: Json[]; format?: string };

/**
 * Differences on purpose, each with its reason. The schema shares one VideoCodec enum among
 * the mutations; video.watermark encodes h264/h265 only and refuses the others by name.
 */
const KNOWN: Record<string, string> = {
  "watermarkVideo videoCodec": "enum AV1,H264,H265,VP9 in GraphQL, H264,H265 in zod",
};

/** The zod side, as JSON Schema of what a submitter may send (defaults make a field optional). */
function zodSchema(definition: JobTypeDefinition): Json {
  const input = typeof definition.input === "function" ? definition.input(deps) : definition.input;
  return z.toJSONSchema(input, { io: "input", unrepresentable: "any" }) as Json;
}

/** `null | X` (an optional field zod allows null for) is X here: GraphQL nulls are dropped. */
function nonNull(s: Json): Json {
  const options = s.anyOf?.filter((o) => o.type !== "null");
  if (options?.length === 1) return nonNull(options[0]!);
  // A union of whole-number literals (sampleRate: 8000 | 16000 | …) is an Int in GraphQL.
  if (options?.length && options.every((o) => Number.isInteger(o.const))) return { type: "integer" };
  return s;
}

/** Every difference between a GraphQL input type and a JSON Schema, as `path: what`. */
function drift(path: string, gql: GraphQLInputType, json: Json, out: string[]): void {
  const t = getNullableType(gql);
  const s = nonNull(json);
  if (isListType(t)) {
    if (s.type !== "array" || !s.items) return void out.push(`${path}: a list in GraphQL, ${JSON.stringify(s.type)} in zod`);
    return drift(`${path}[]`, t.ofType, s.items, out);
  }
  const variants = s.anyOf ?? s.oneOf;
  if (isInputObjectType(t) && variants) return oneOf(path, t.getFields(), variants.filter((o) => o.type !== "null"), out);
  if (isInputObjectType(t)) {
    if (s.type !== "object" || !s.properties) return void out.push(`${path}: an object in GraphQL, ${JSON.stringify(s.type)} in zod`);
    compareFields(path, t.getFields(), s, out);
    return;
  }
  if (isEnumType(t)) {
    const values = (s.enum ?? []).map((v) => String(v).toUpperCase().replace(/-/g, "_")).sort();
    const names = t.getValues().map((v) => v.name).sort();
    if (JSON.stringify(values) !== JSON.stringify(names)) out.push(`${path}: enum ${names.join(",")} in GraphQL, ${values.join(",")} in zod`);
    return;
  }
  if (isScalarType(t)) {
    const want = { Int: "integer", Float: "number", Boolean: "boolean", String: "string", ID: "string", DateTime: "string" }[t.name];
    if (want !== s.type) out.push(`${path}: ${t.name} in GraphQL, ${JSON.stringify(s.type)} in zod`);
  }
}

/**
 * A zod union is a GraphQL input with exactly one field set: a discriminated union's variant
 * is the field named for its `op` (its other fields are the field's), any other variant is
 * the field of the same kind (StampPosition: anchor is the enum, point the object).
 */
function oneOf(path: string, fields: Record<string, { type: GraphQLInputType }>, variants: Json[], out: string[]): void {
  if (Object.keys(fields).length !== variants.length) out.push(`${path}: ${Object.keys(fields).length} one-of fields in GraphQL, ${variants.length} variants in zod`);
  for (const [name, field] of Object.entries(fields)) {
    const at = `${path}.${name}`;
    if (isNonNullType(field.type)) out.push(`${at}: required in a one-of input`);
    const type = getNullableType(field.type);
    const tagged = variants.find((v) => v.properties?.op?.const === name);
    if (tagged) {
      const { op: _op, ...properties } = tagged.properties!;
      drift(at, type, { ...tagged, properties, required: tagged.required?.filter((r) => r !== "op") }, out);
      continue;
    }
    const variant = variants.find((v) => (isEnumType(type) ? v.enum : isInputObjectType(type) ? v.type === "object" : false));
    if (!variant) out.push(`${at}: no zod variant of its kind`);
    else drift(at, field.type, variant, out);
  }
}

function compareFields(path: string, fields: Record<string, { type: GraphQLInputType }>, s: Json, out: string[]): void {
  const props = s.properties ?? {};
  const required = new Set(s.required ?? []);
  const names = new Set([...Object.keys(fields), ...Object.keys(props)].filter((n) => !(path === "" && ENVELOPE.has(n))));
  for (const name of names) {
    const at = path ? `${path}.${name}` : name;
    const field = fields[name];
    const prop = props[name];
    if (!field) { out.push(`${at}: in zod only`); continue; }
    if (!prop) { out.push(`${at}: in GraphQL only`); continue; }
    if (isNonNullType(field.type) !== required.has(name)) out.push(`${at}: ${isNonNullType(field.type) ? "required" : "optional"} in GraphQL, not in zod`);
    drift(at, field.type, prop, out);
  }
}

const schema = buildSchema();
const mutations = schema.getMutationType()!.getFields();

/**
 * GraphQL fields the resolver maps onto a differently named job field (checked for presence,
 * not type): ocrEnabled true/false/unset becomes ocr always/never/auto (graphql/document-jobs.ts).
 */
const RENAMED: Record<string, Record<string, string>> = {
  processDocument: { ocrEnabled: "ocr" },
  extractDocumentText: { ocrEnabled: "ocr" },
};

const direct = JOB_TYPES.filter((d) => d.mutation);

describe("typed mutation inputs agree with their job type's zod input", () => {
  it("has a typed mutation for every definition that names one", () => {
    for (const d of JOB_TYPES.filter((d) => d.mutation)) expect(mutations[d.mutation!.name], d.type).toBeDefined();
    expect(direct.length).toBeGreaterThanOrEqual(11);
  });

  it.each(direct.map((d) => [d.mutation!.name, d] as const))("%s", (name, definition) => {
    const input = mutations[name]!.args.find((a) => a.name === "input")!;
    const object = getNullableType(input.type);
    if (!isInputObjectType(object)) throw new Error(`${name}(input) is not an input object`);
    const out: string[] = [];
    const fields = Object.fromEntries(Object.entries(object.getFields()).map(([n, f]) => [RENAMED[name]?.[n] ?? n, f]));
    const json = zodSchema(definition);
    for (const renamed of Object.values(RENAMED[name] ?? {})) {
      expect(json.properties?.[renamed], `${name}: ${renamed}`).toBeDefined();
      delete json.properties![renamed];
      delete fields[renamed];
    }
    compareFields("", fields, json, out);
    expect(out.filter((d) => !Object.entries(KNOWN).some(([k, v]) => k === `${name} ${d.split(":")[0]}` && d.endsWith(v)))).toEqual([]);
  });
});
