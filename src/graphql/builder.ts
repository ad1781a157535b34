// The Pothos schema builder: Prisma plugin (types from prisma/schema.prisma, nested
// selections loaded in one Prisma query per level, not per row) and Relay plugin (Node,
// global ids, connections). Built by buildSchema(), never at import time.
import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import { DateTimeResolver, JSONResolver, SafeIntResolver } from "graphql-scalars";
import type PrismaTypes from "../generated/pothos-types.ts";
import { getDatamodel } from "../generated/pothos-types.ts";
import { SpoolError } from "../errors.ts";
import type { Context } from "./context.ts";

export type SchemaTypes = {
  PrismaTypes: PrismaTypes;
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    SafeInt: { Input: number; Output: number };
    /** A file of a GraphQL multipart request (graphql-multipart-request-spec), input only. */
    File: { Input: File; Output: never };
  };
};

/** Connections are bounded: `first` at most 100, 20 when not given. */
export const MAX_PAGE = 100;
export const DEFAULT_PAGE = 20;

/** Connections are bounded; asking for more is an error, not a silently shorter page. */
export function checkPage(args: { first?: number | null; last?: number | null }): void {
  for (const [name, value] of [["first", args.first], ["last", args.last]] as const) {
    if (value != null && (value < 0 || value > MAX_PAGE)) {
      throw new SpoolError("INVALID_INPUT", `${name} must be from 0 to ${MAX_PAGE}; fetch further pages with after: pageInfo.endCursor.`);
    }
  }
}

export function createBuilder() {
  const builder = new SchemaBuilder<SchemaTypes>({
    plugins: [PrismaPlugin, RelayPlugin],
    defaultFieldNullability: false,
    prisma: {
      client: (ctx) => ctx.prisma,
      dmmf: getDatamodel(),
      filterConnectionTotalCount: true,
      maxConnectionSize: MAX_PAGE,
      defaultConnectionSize: DEFAULT_PAGE,
      onUnusedQuery: null,
    },
    relay: {
      clientMutationId: "omit",
      cursorType: "String",
      // `nodes(ids:)` would be an unbounded list; `node(id:)` is enough.
      nodesQueryOptions: false,
    },
  });
  builder.addScalarType("DateTime", DateTimeResolver);
  builder.addScalarType("JSON", JSONResolver);
  builder.addScalarType("SafeInt", SafeIntResolver);
  builder.scalarType("File", {
    description: "A file sent in a multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec). For large files use tus uploads at /uploads.",
    serialize: () => {
      throw new Error("File is an input-only scalar");
    },
    parseValue: (value) => {
      // yoga's multipart parser gives its own File class (not this realm's Blob): check the shape.
      const f = value as Partial<File> | null;
      if (!f || typeof f !== "object" || typeof f.stream !== "function" || typeof f.size !== "number") {
        throw new SpoolError("INVALID_INPUT", "Expected a file part of a multipart request (graphql-multipart-request-spec).");
      }
      return value as File;
    },
  });
  builder.queryType({});
  builder.mutationType({});
  builder.subscriptionType({});
  return builder;
}

export type Builder = ReturnType<typeof createBuilder>;
