// Webhooks in GraphQL, what can be read: endpoints (WebhookEndpoint), their deliveries and
// attempts, the event catalogue, and the webhooks / webhook / webhookEventTypes queries. The
// mutations and the webhookDeliveries subscription are beside it and take the refs returned
// here. Everything but webhookEventTypes needs the webhooks:manage scope and is scoped to the
// caller's organization: another organization's endpoint or delivery answers NOT_FOUND.
// Secrets are never readable: createWebhook and the rotate mutations return a new one once.
import { SpoolError } from "../../errors.ts";
import { webhookId } from "../../processors/webhook-deliver.ts";
import { WEBHOOK_EVENT_TYPES, WEBHOOK_EVENTS, payloadJsonSchema } from "../../services/webhook-events.ts";
import { checkPage, type Builder } from "../builder.ts";
import { requireScope, type Context } from "../context.ts";
import { idOf } from "../ids.ts";

const KINDS = ["ENDPOINT", "JOB"] as const;
const DELIVERY_STATUSES = ["PENDING", "SUCCEEDED", "FAILED"] as const;

export function addWebhookTypes(builder: Builder) {
  const Kind = builder.enumType("WebhookEndpointKind", {
    description: "How an endpoint came to be.",
    values: {
      ENDPOINT: { description: "Registered with createWebhook: receives the organization's events of its eventTypes." },
      JOB: { description: "Made for the webhookUrl of submitted jobs: receives only those jobs' job.* events, signed with the organization's job webhook secret." },
    },
  });
  const DeliveryStatus = builder.enumType("WebhookDeliveryStatus", {
    description: "Where a delivery stands.",
    values: {
      PENDING: { description: "Not delivered yet: the next attempt is at nextAttemptAt." },
      SUCCEEDED: { description: "An attempt got a 2xx answer." },
      FAILED: { description: "Given up: the retry schedule ran out or the endpoint was disabled." },
    },
  });

  const messageSelect = { message: { select: { eventType: true, body: true } } } as const;
  type WithMessage = { message: { eventType: string; body: string } };

  builder.prismaObject("WebhookAttempt", {
    description: "One HTTP request of a delivery and what came back.",
    fields: (t) => ({
      attempt: t.exposeInt("attempt", { description: "1 for the first request of the delivery, then 2, 3, …" }),
      url: t.exposeString("url", { description: "Where it was sent (the endpoint's URL at the time)." }),
      statusCode: t.exposeInt("statusCode", { nullable: true, description: "The HTTP status answered; null when no answer came (see error)." }),
      succeeded: t.exposeBoolean("succeeded", { description: "True for a 2xx answer." }),
      latencyMs: t.exposeInt("latencyMs", { description: "Milliseconds from sending to the answer (or the failure)." }),
      error: t.exposeString("error", { nullable: true, description: "Why no answer came: timeout, refused address, connection error…" }),
      responseExcerpt: t.exposeString("responseExcerpt", { nullable: true, description: "The first kilobyte of the response body." }),
      createdAt: t.expose("createdAt", { type: "DateTime", description: "When the attempt finished." }),
    }),
  });

  const Delivery = builder.prismaNode("WebhookDelivery", {
    id: { field: "id" },
    description: "One message to one endpoint: PENDING until an attempt answers 2xx (SUCCEEDED) or the retries run out (FAILED).",
    findUnique: (id, ctx: Context) => ({ id, organizationId: requireScope(ctx, "webhooks:manage").organizationId }),
    fields: (t) => ({
      eventType: t.string({ description: "The event type (job.succeeded, …), as in the body's `type`.", select: messageSelect, resolve: (d) => (d as unknown as WithMessage).message.eventType }),
      webhookId: t.string({
        description: "The webhook-id header sent: \"msg_\" and the message id. The same for every attempt and every redelivery of the message: receivers deduplicate on it.",
        resolve: (d) => webhookId(d.messageId),
      }),
      payload: t.field({
        type: "JSON",
        description: "The body sent, parsed: { type, timestamp, data } (Standard Webhooks).",
        select: messageSelect,
        resolve: (d) => JSON.parse((d as unknown as WithMessage).message.body) as unknown,
      }),
      status: t.field({ type: DeliveryStatus, description: "Where the delivery stands.", resolve: (d) => d.status as (typeof DELIVERY_STATUSES)[number] }),
      attemptCount: t.exposeInt("attemptCount", { description: "Requests made so far." }),
      nextAttemptAt: t.expose("nextAttemptAt", { type: "DateTime", nullable: true, description: "When the next attempt is due, while PENDING." }),
      lastStatusCode: t.exposeInt("lastStatusCode", { nullable: true, description: "The HTTP status of the last attempt; null before one or when it got no answer." }),
      lastError: t.exposeString("lastError", { nullable: true, description: "Why the last attempt got no answer (or why the delivery stopped)." }),
      createdAt: t.expose("createdAt", { type: "DateTime", description: "When the event happened (or the redelivery was asked for)." }),
      updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When the delivery last changed." }),
      endpoint: t.relation("endpoint", { description: "The endpoint it goes to." }),
      redeliveryOf: t.relation("redeliveryOf", { nullable: true, description: "The delivery this one sends again (redeliverWebhook); null for an original." }),
      attempts: t.relation("attempts", {
        description: "Every request made, in order.",
        query: { orderBy: [{ attempt: "asc" as const }, { id: "asc" as const }] },
      }),
    }),
  });

  const Endpoint = builder.prismaNode("WebhookEndpoint", {
    id: { field: "id" },
    description: "A URL that receives the organization's events as signed POST requests (Standard Webhooks). Its secret is shown only when created or rotated.",
    findUnique: (id, ctx: Context) => ({ id, organizationId: requireScope(ctx, "webhooks:manage").organizationId }),
    fields: (t) => ({
      url: t.exposeString("url", { description: "Where events are POSTed." }),
      description: t.exposeString("description", { nullable: true, description: "Your own note." }),
      eventTypes: t.exposeStringList("eventTypes", { description: "The event types it receives; empty: every type. (JOB endpoints: ignored, they receive their jobs' job.* events.)" }),
      active: t.exposeBoolean("active", { description: "False: nothing is sent (switched off, or disabled by Spool: see disabledReason)." }),
      kind: t.field({ type: Kind, description: "ENDPOINT (createWebhook) or JOB (a job's webhookUrl).", resolve: (e) => e.kind as (typeof KINDS)[number] }),
      disabledReason: t.exposeString("disabledReason", { nullable: true, description: "Why Spool disabled it (410 Gone, or five days of failures); cleared by updateWebhook(active: true)." }),
      disabledAt: t.expose("disabledAt", { type: "DateTime", nullable: true, description: "When Spool disabled it." }),
      failingSince: t.expose("failingSince", { type: "DateTime", nullable: true, description: "Start of the current run of failed attempts; null after a success. Five days of it disable the endpoint." }),
      previousSecretExpiresAt: t.field({
        type: "DateTime",
        nullable: true,
        description: "Until then the previous secret also signs every request (a second v1 signature), after a rotation with overlapHours > 0.",
        resolve: (e) => (e.previousSecretExpiresAt && e.previousSecretExpiresAt > new Date() ? e.previousSecretExpiresAt : null),
      }),
      createdAt: t.expose("createdAt", { type: "DateTime", description: "When it was created." }),
      updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When it was last changed." }),
      deliveries: t.relatedConnection("deliveries", {
        cursor: "id",
        totalCount: true,
        description: "Messages sent or being sent to it, newest first.",
        args: { status: t.arg({ type: DeliveryStatus, required: false, description: "Only deliveries in this state." }) },
        query: (args) => (checkPage(args as { first?: number | null; last?: number | null }), {
          where: args.status ? { status: args.status } : {},
          orderBy: [{ createdAt: "desc" as const }, { id: "desc" as const }],
        }),
      }, { name: "WebhookDeliveryConnection", description: "A page of webhook deliveries." }, { name: "WebhookDeliveryEdge", description: "A webhook delivery and its cursor." }),
    }),
  });

  const EventType = builder.objectRef<{ type: string; description: string; payloadSchema: unknown }>("WebhookEventType").implement({
    description: "An event type endpoints can subscribe to, and the body it sends.",
    fields: (t) => ({
      type: t.exposeString("type", { description: "The name, as in eventTypes and in the body's `type`." }),
      description: t.exposeString("description", { description: "When it is sent." }),
      payloadSchema: t.expose("payloadSchema", { type: "JSON", description: "JSON Schema of the whole body: { type, timestamp, data }." }),
    }),
  });

  const Filter = builder.inputType("WebhookFilter", {
    description: "Which endpoints to list.",
    fields: (t) => ({
      active: t.boolean({ required: false, description: "Only active (true) or inactive (false) endpoints." }),
      kind: t.field({ type: Kind, required: false, description: "Only endpoints of this kind." }),
    }),
  });

  const endpointWhere = (ctx: Context, f: { active?: boolean | null; kind?: string | null } | null | undefined) => ({
    organizationId: requireScope(ctx, "webhooks:manage").organizationId,
    ...(f?.active != null ? { active: f.active } : {}),
    ...(f?.kind ? { kind: f.kind } : {}),
  });

  builder.queryFields((t) => ({
    webhooks: t.prismaConnection({
      type: "WebhookEndpoint",
      cursor: "id",
      description: "Your organization's webhook endpoints, newest first.",
      args: { filter: t.arg({ type: Filter, required: false, description: "Narrow the list." }) },
      totalCount: (_p, args, ctx) => (checkPage(args), ctx.prisma.webhookEndpoint.count({ where: endpointWhere(ctx, args.filter) })),
      resolve: (query, _r, args, ctx) => {
        checkPage(args);
        return ctx.prisma.webhookEndpoint.findMany({ ...query, where: endpointWhere(ctx, args.filter), orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
      },
    }, { name: "WebhookEndpointConnection", description: "A page of webhook endpoints." }, { name: "WebhookEndpointEdge", description: "A webhook endpoint and its cursor." }),
    webhook: t.prismaField({
      type: "WebhookEndpoint",
      description: "One of your webhook endpoints, with its deliveries.",
      args: { id: t.arg.id({ required: true, description: "The endpoint's id (global id or UUID)." }) },
      resolve: async (query, _r, args, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const endpoint = await ctx.prisma.webhookEndpoint.findFirst({ ...query, where: { id: idOf("WebhookEndpoint", args.id), organizationId } });
        if (!endpoint) throw new SpoolError("NOT_FOUND", `No webhook endpoint ${args.id} in your organization.`);
        return endpoint;
      },
    }),
    webhookEventTypes: t.field({
      type: [EventType],
      description: "Every event type webhooks send, with the JSON Schema of its body. Any API key may read it.",
      resolve: (_r, _a, ctx) => {
        // Any authenticated key: requireScope's UNAUTHENTICATED without one.
        if (!ctx.principal) requireScope(ctx, "webhooks:manage");
        return WEBHOOK_EVENT_TYPES.map((type) => ({ type, description: WEBHOOK_EVENTS[type].description, payloadSchema: payloadJsonSchema(type) }));
      },
    }),
  }));

  return { WebhookEndpointRef: Endpoint, WebhookDeliveryRef: Delivery };
}

export type WebhookRefs = ReturnType<typeof addWebhookTypes>;
