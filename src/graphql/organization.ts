// The caller's organization and API keys: viewer, apiKeys, createApiKey (the full key is in
// that payload and nowhere else), revokeApiKey; admins create organizations.
import { SpoolError } from "../errors.ts";
import { createApiKey, listApiKeys, revokeApiKey, SCOPES, type Scope } from "../services/api-keys.ts";
import { createOrganization } from "../services/organizations.ts";
import type { Builder } from "./builder.ts";
import { requireScope } from "./context.ts";

/** GraphQL enum values are SCREAMING_CASE; scopes are `jobs:read` and so on. */
const scopeEnumValue = (s: Scope) => s.replace(":", "_").toUpperCase();

export function addOrganizationTypes(builder: Builder) {
  const ApiScope = builder.enumType("ApiScope", {
    values: Object.fromEntries(SCOPES.map((s) => [scopeEnumValue(s), { value: s, description: s }])) as Record<string, { value: Scope }>,
  });

  builder.prismaObject("Organization", {
    fields: (t) => ({
      id: t.exposeID("id"),
      name: t.exposeString("name"),
      slug: t.exposeString("slug"),
      createdAt: t.expose("createdAt", { type: "DateTime" }),
    }),
  });

  builder.prismaObject("ApiKey", {
    description: "An API key's public part; the secret is shown once, by createApiKey.",
    fields: (t) => ({
      id: t.exposeID("id"),
      name: t.exposeString("name"),
      scopes: t.field({ type: [ApiScope], resolve: (k) => k.scopes as Scope[] }),
      createdAt: t.expose("createdAt", { type: "DateTime" }),
      lastUsedAt: t.expose("lastUsedAt", { type: "DateTime", nullable: true }),
      revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
    }),
  });

  const Viewer = builder.objectRef<{ organizationId: string; keyId: string; scopes: Scope[] }>("Viewer").implement({
    fields: (t) => ({
      organization: t.prismaField({ type: "Organization", resolve: (query, v, _a, ctx) => ctx.prisma.organization.findUniqueOrThrow({ ...query, where: { id: v.organizationId } }) }),
      apiKey: t.prismaField({ type: "ApiKey", resolve: (query, v, _a, ctx) => ctx.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: v.keyId } }) }),
      scopes: t.field({ type: [ApiScope], resolve: (v) => v.scopes }),
    }),
  });

  builder.queryFields((t) => ({
    viewer: t.field({
      type: Viewer,
      description: "Who you are: the organization and key of this request.",
      resolve: (_r, _a, ctx) => {
        if (!ctx.principal) throw new SpoolError("UNAUTHENTICATED", "Send an API key as `Authorization: Bearer <key>`.");
        return ctx.principal;
      },
    }),
    apiKeys: t.prismaField({
      type: ["ApiKey"],
      resolve: (_q, _r, _a, ctx) => listApiKeys(ctx.prisma, requireScope(ctx, "keys:manage").organizationId),
    }),
  }));

  const CreateApiKeyInput = builder.inputType("CreateApiKeyInput", {
    fields: (t) => ({
      name: t.string({ required: true }),
      scopes: t.field({ type: [ApiScope], required: true }),
      organizationId: t.id({ required: false, description: "Admins only: a key for another organization." }),
    }),
  });
  const CreateApiKeyPayload = builder.objectRef<{ keyId: string; key: string }>("CreateApiKeyPayload").implement({
    fields: (t) => ({
      key: t.exposeString("key", { description: "The full key. Shown once: store it now." }),
      apiKey: t.prismaField({ type: "ApiKey", resolve: (query, p, _a, ctx) => ctx.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: p.keyId } }) }),
    }),
  });
  const RevokeApiKeyInput = builder.inputType("RevokeApiKeyInput", { fields: (t) => ({ id: t.id({ required: true }) }) });
  const RevokeApiKeyPayload = builder.objectRef<{ keyId: string }>("RevokeApiKeyPayload").implement({
    fields: (t) => ({
      apiKey: t.prismaField({ type: "ApiKey", resolve: (query, p, _a, ctx) => ctx.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: p.keyId } }) }),
    }),
  });
  const CreateOrganizationInput = builder.inputType("CreateOrganizationInput", {
    fields: (t) => ({ name: t.string({ required: true }), slug: t.string({ required: true }) }),
  });
  const CreateOrganizationPayload = builder.objectRef<{ organizationId: string }>("CreateOrganizationPayload").implement({
    fields: (t) => ({
      organization: t.prismaField({ type: "Organization", resolve: (query, p, _a, ctx) => ctx.prisma.organization.findUniqueOrThrow({ ...query, where: { id: p.organizationId } }) }),
    }),
  });

  builder.mutationFields((t) => ({
    createApiKey: t.field({
      type: CreateApiKeyPayload,
      args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const me = requireScope(ctx, "keys:manage");
        let organizationId = me.organizationId;
        if (input.organizationId && String(input.organizationId) !== me.organizationId) {
          requireScope(ctx, "admin");
          const org = await ctx.prisma.organization.findUnique({ where: { id: String(input.organizationId) } }).catch(() => null);
          if (!org) throw new SpoolError("NOT_FOUND", `No organization ${input.organizationId}.`);
          organizationId = org.id;
        }
        // A key never gets more power than the key that creates it.
        const wanted = input.scopes as Scope[];
        if (!me.scopes.includes("admin") && wanted.some((s) => !me.scopes.includes(s))) {
          throw new SpoolError("FORBIDDEN", "A key can only grant scopes it holds itself.");
        }
        const { apiKey, key } = await createApiKey(ctx.prisma, { organizationId, name: input.name, scopes: wanted });
        return { keyId: apiKey.id, key };
      },
    }),
    revokeApiKey: t.field({
      type: RevokeApiKeyPayload,
      args: { input: t.arg({ type: RevokeApiKeyInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "keys:manage");
        const key = await revokeApiKey(ctx.prisma, organizationId, String(input.id));
        return { keyId: key.id };
      },
    }),
    createOrganization: t.field({
      type: CreateOrganizationPayload,
      description: "Admins only. Then create its first key with createApiKey(organizationId:).",
      args: { input: t.arg({ type: CreateOrganizationInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        requireScope(ctx, "admin");
        const org = await createOrganization(ctx.prisma, input);
        return { organizationId: org.id };
      },
    }),
  }));
}
