// Webhooks in GraphQL: endpoints (WebhookEndpoint), their deliveries and attempts, the event
// catalogue, the management mutations, and the webhookDeliveries subscription. Everything but
// webhookEventTypes needs the webhooks:manage scope and is scoped to the caller's
// organization: another organization's endpoint or delivery answers NOT_FOUND. Secrets are
// never readable: createWebhook and the rotate mutations return a new one once.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { SpoolError } from "../errors.ts";
import type { WebhookDelivery } from "../generated/prisma/client.ts";
import { webhookId } from "../processors/webhook-deliver.ts";
import type { FeedEvent } from "../pubsub/event-feed.ts";
import { WEBHOOK_EVENT_TYPES, WEBHOOK_EVENTS, payloadJsonSchema } from "../services/webhook-events.ts";
import * as webhooks from "../services/webhooks.ts";
import { checkPage, type Builder } from "./builder.ts";
import { liveUpdatesOf, requireScope, webhooksOf, type Context } from "./context.ts";
import { idOf } from "./ids.ts";
import { isUuid } from "../uuid.ts";

const KINDS = ["ENDPOINT", "JOB"] as const;
const DELIVERY_STATUSES = ["PENDING", "SUCCEEDED", "FAILED"] as const;
/** Deliveries whose last streamed state a webhookDeliveries subscription remembers (to skip repeats). */
const SEEN_STATES = 1_000;

const EVENT_TYPES_NOTE =
  "Event types are plain strings (job.created, video.ready, …: dots are not valid in GraphQL enum names); see the webhookEventTypes query. Unknown ones are INVALID_INPUT.";


/** What webhookDeliveries yields before its resolver reads the delivery: its id (or the Error that ends the stream). */
type DeliveryRef = { id: string };

/**
 * The organization's webhook.deliver job STATUS events, each mapped to the delivery its job
 * attempts (skipped when `map` gives undefined). return() ends the underlying feed at once,
 * even while a next() is waiting on it (an async generator would wait for the next event).
 */
class MappedFeed<T> implements AsyncIterableIterator<T | Error> {
  constructor(
    private readonly feed: AsyncIterableIterator<FeedEvent | Error>,
    private readonly map: (e: FeedEvent) => Promise<T | undefined>,
    private readonly onError: (err: unknown) => Error,
  ) {}

  async next(): Promise<IteratorResult<T | Error>> {
    for (;;) {
      const r = await this.feed.next();
      if (r.done || r.value instanceof Error) return r as IteratorResult<T | Error>;
      let mapped: T | undefined;
      try {
        mapped = await this.map(r.value);
      } catch (err) {
        await this.feed.return?.();
        return { done: false, value: this.onError(err) };
      }
      if (mapped !== undefined) return { done: false, value: mapped };
    }
  }

  async return(): Promise<IteratorResult<T | Error>> {
    await this.feed.return?.();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

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

  // mutations ---------------------------------------------------------------------------

  const CreateInput = builder.inputType("CreateWebhookInput", {
    description: "A new endpoint.",
    fields: (t) => ({
      url: t.string({ required: true, description: "An http(s) URL on a public address (private, loopback and link-local addresses are URL_NOT_ALLOWED), at most 2048 characters." }),
      eventTypes: t.stringList({ required: false, description: `The event types to receive; empty or not given: every type. ${EVENT_TYPES_NOTE}` }),
      description: t.string({ required: false, description: "Your own note, at most 500 characters." }),
      active: t.boolean({ required: false, description: "Default true; false registers it switched off." }),
    }),
  });
  const UpdateInput = builder.inputType("UpdateWebhookInput", {
    description: "Changes to an endpoint; fields not given are kept.",
    fields: (t) => ({
      id: t.id({ required: true, description: "The endpoint." }),
      url: t.string({ required: false, description: "A new URL (checked as in createWebhook)." }),
      eventTypes: t.stringList({ required: false, description: `The new event types; an empty list: every type. ${EVENT_TYPES_NOTE}` }),
      description: t.string({ required: false, description: "A new note; null clears it." }),
      active: t.boolean({ required: false, description: "Switch it off or on; true also clears disabledReason and the failure run." }),
    }),
  });
  const DeleteInput = builder.inputType("DeleteWebhookInput", {
    description: "The endpoint to delete.",
    fields: (t) => ({ id: t.id({ required: true, description: "The endpoint." }) }),
  });
  const RotateInput = builder.inputType("RotateWebhookSecretInput", {
    description: "The endpoint whose secret to replace.",
    fields: (t) => ({
      id: t.id({ required: true, description: "The endpoint (kind ENDPOINT; JOB endpoints use rotateJobWebhookSecret)." }),
      overlapHours: t.int({
        required: false,
        description: `Hours (0..168, default ${webhooks.DEFAULT_ROTATION_OVERLAP_HOURS}) during which the previous secret also signs every request, so receivers can switch without losing a message; 0: only the new one from now on.`,
      }),
    }),
  });
  const RotateJobInput = builder.inputType("RotateJobWebhookSecretInput", {
    description: "Options of rotateJobWebhookSecret.",
    fields: (t) => ({
      overlapHours: t.int({ required: false, description: `Hours (0..168, default ${webhooks.DEFAULT_ROTATION_OVERLAP_HOURS}) during which the previous job webhook secret also signs; 0: only the new one.` }),
    }),
  });
  const TestInput = builder.inputType("TestWebhookInput", {
    description: "The endpoint to ping.",
    fields: (t) => ({
      id: t.id({ required: true, description: "The endpoint (it must be active)." }),
      message: t.string({ required: false, description: "Put in data.message (at most 200 characters); default \"Hello from Spool\"." }),
    }),
  });
  const RedeliverInput = builder.inputType("RedeliverWebhookInput", {
    description: "The delivery to send again.",
    fields: (t) => ({ deliveryId: t.id({ required: true, description: "A WebhookDelivery of yours (its endpoint must be active)." }) }),
  });

  const webhookField = (t: any) =>
    t.prismaField({
      type: "WebhookEndpoint",
      description: "The endpoint as it is now.",
      resolve: (query: object, p: { id: string }, _a: unknown, ctx: Context) => ctx.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: p.id } }),
    });
  const secretField = (t: any, what: string) =>
    t.exposeString("secret", { description: `${what} (whsec_ and base64, as Standard Webhooks libraries take it). Shown only here, never again: store it now.` });

  const CreatePayload = builder.objectRef<{ id: string; secret: string }>("CreateWebhookPayload").implement({
    description: "The new endpoint and its signing secret.",
    fields: (t) => ({ webhook: webhookField(t), secret: secretField(t, "The secret the endpoint's requests are signed with") }),
  });
  const UpdatePayload = builder.objectRef<{ id: string }>("UpdateWebhookPayload").implement({
    description: "The changed endpoint.",
    fields: (t) => ({ webhook: webhookField(t) }),
  });
  const DeletePayload = builder.objectRef<{ id: string }>("DeleteWebhookPayload").implement({
    description: "What was deleted.",
    fields: (t) => ({ deletedId: t.id({ description: "The deleted endpoint's global id.", resolve: (p) => encodeGlobalID("WebhookEndpoint", p.id) }) }),
  });
  const RotatePayload = builder.objectRef<{ id: string; secret: string }>("RotateWebhookSecretPayload").implement({
    description: "The endpoint and its new secret.",
    fields: (t) => ({ webhook: webhookField(t), secret: secretField(t, "The new secret") }),
  });
  const RotateJobPayload = builder.objectRef<{ secret: string }>("RotateJobWebhookSecretPayload").implement({
    description: "The organization's new job webhook secret.",
    fields: (t) => ({ secret: secretField(t, "The new job webhook secret: requests to the webhookUrl of jobs are signed with it") }),
  });
  const DeliveryPayload = (name: string, description: string) =>
    builder.objectRef<{ deliveryId: string }>(name).implement({
      description,
      fields: (t) => ({
        delivery: t.prismaField({
          type: Delivery,
          description: "The new delivery (PENDING; its webhook.deliver job sends it).",
          resolve: (query, p, _a, ctx) => ctx.prisma.webhookDelivery.findUniqueOrThrow({ ...query, where: { id: p.deliveryId } }),
        }),
      }),
    });
  const TestPayload = DeliveryPayload("TestWebhookPayload", "The webhook.test delivery.");
  const RedeliverPayload = DeliveryPayload("RedeliverWebhookPayload", "The new delivery of the same message.");

  builder.mutationFields((t) => ({
    createWebhook: t.field({
      type: CreatePayload,
      description: "Register an endpoint for your organization's events. The payload's secret is shown once: store it to verify the webhook-signature header.",
      args: { input: t.arg({ type: CreateInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const { endpoint, secret } = await webhooks.createEndpoint(webhooksOf(ctx), organizationId, {
          url: input.url, eventTypes: input.eventTypes ?? undefined, description: input.description ?? undefined, active: input.active ?? undefined,
        });
        return { id: endpoint.id, secret };
      },
    }),
    updateWebhook: t.field({
      type: UpdatePayload,
      description: "Change an endpoint's URL, event types, note, or switch it off and on.",
      args: { input: t.arg({ type: UpdateInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const endpoint = await webhooks.updateEndpoint(webhooksOf(ctx), organizationId, idOf("WebhookEndpoint", input.id), {
          url: input.url ?? undefined,
          ...(input.description !== undefined ? { description: input.description } : {}),
          eventTypes: input.eventTypes ?? undefined,
          active: input.active ?? undefined,
        });
        return { id: endpoint.id };
      },
    }),
    deleteWebhook: t.field({
      type: DeletePayload,
      description: "Delete an endpoint with its deliveries and attempts; pending deliveries to it stop.",
      args: { input: t.arg({ type: DeleteInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const endpoint = await webhooks.deleteEndpoint(webhooksOf(ctx), organizationId, idOf("WebhookEndpoint", input.id));
        return { id: endpoint.id };
      },
    }),
    rotateWebhookSecret: t.field({
      type: RotatePayload,
      description: "Replace an endpoint's secret. The new secret is shown once; the previous one keeps signing for overlapHours.",
      args: { input: t.arg({ type: RotateInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const { endpoint, secret } = await webhooks.rotateSecret(webhooksOf(ctx), organizationId, idOf("WebhookEndpoint", input.id), input.overlapHours ?? undefined);
        return { id: endpoint.id, secret };
      },
    }),
    rotateJobWebhookSecret: t.field({
      type: RotateJobPayload,
      description: "Create or replace the organization's job webhook secret, which signs the requests sent to jobs' own webhookUrl (needed before submitting a job with webhookUrl). Shown once; the previous one keeps signing for overlapHours.",
      args: { input: t.arg({ type: RotateJobInput, required: false }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        return { secret: await webhooks.rotateJobWebhookSecret(webhooksOf(ctx), organizationId, input?.overlapHours ?? undefined) };
      },
    }),
    testWebhook: t.field({
      type: TestPayload,
      description: "Send a webhook.test event to this endpoint only, whatever its event types; follow it with webhook(id).deliveries or the webhookDeliveries subscription.",
      args: { input: t.arg({ type: TestInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const deliveryId = await webhooks.testEndpoint(webhooksOf(ctx), organizationId, idOf("WebhookEndpoint", input.id), input.message ?? undefined);
        return { deliveryId };
      },
    }),
    redeliverWebhook: t.field({
      type: RedeliverPayload,
      description: "Send a delivery's message again to its endpoint, as a new delivery: the same body and webhook-id (receivers deduplicate on it), a new timestamp and signature.",
      args: { input: t.arg({ type: RedeliverInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const deliveryId = await webhooks.redeliver(webhooksOf(ctx), organizationId, idOf("WebhookDelivery", input.deliveryId));
        return { deliveryId };
      },
    }),
  }));

  // subscription ------------------------------------------------------------------------

  builder.subscriptionFields((t) => ({
    webhookDeliveries: t.prismaField({
      type: Delivery,
      description:
        "Your organization's webhook deliveries as they change: a new delivery (PENDING), then its state after every attempt (SUCCEEDED, FAILED, " +
        "or PENDING with the next attempt's time). Live only: read earlier ones with webhook(id).deliveries. Ends with UNAVAILABLE when the " +
        "server loses its database notification connection: subscribe again.",
      args: { endpointId: t.arg.id({ required: false, description: "Only deliveries to this endpoint." }) },
      subscribe: async (_r, args, ctx) => {
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const endpointId = args.endpointId != null ? idOf("WebhookEndpoint", args.endpointId) : null;
        if (endpointId) await webhooks.getEndpoint(ctx.pool, organizationId, endpointId); // NOT_FOUND
        // Every attempt is a webhook.deliver job (input { deliveryId }) whose STATUS events are
        // what LiveUpdates streams: QUEUED when the delivery or its next attempt is scheduled,
        // SUCCEEDED/FAILED/CANCELLED after an attempt wrote its outcome. RUNNING changes nothing.
        const feed = await liveUpdatesOf(ctx).openFeed({ organizationId, jobId: null, kinds: ["STATUS"], types: ["webhook.deliver"] }, null);
        const seen = new Map<string, string>();
        return new MappedFeed<DeliveryRef>(feed, async (e) => {
          if ((e.data as { status?: string } | null)?.status === "RUNNING") return undefined;
          const { rows: [job] } = await ctx.pool.query<{ delivery_id: string | null }>(
            `select input->>'deliveryId' as delivery_id from jobs where id = $1 and organization_id = $2`, [e.jobId, organizationId]);
          if (!job?.delivery_id || !isUuid(job.delivery_id)) return undefined;
          const { rows: [d] } = await ctx.pool.query<{ id: string; endpoint_id: string; state: string }>(
            `select id, endpoint_id, status || ':' || attempt_count || ':' || coalesce(next_attempt_at::text, '') as state
             from webhook_deliveries where id = $1 and organization_id = $2`, [job.delivery_id, organizationId]);
          // Deleted with its endpoint, or another endpoint's.
          if (!d || (endpointId && d.endpoint_id !== endpointId)) return undefined;
          if (seen.get(d.id) === d.state) return undefined; // the same state as last streamed
          seen.delete(d.id);
          seen.set(d.id, d.state);
          if (seen.size > SEEN_STATES) seen.delete(seen.keys().next().value!);
          return { id: d.id };
        }, (err) => {
          ctx.log.warn({ err: (err as Error).message }, "reading a webhook delivery for a subscription failed");
          return new SpoolError("UNAVAILABLE", "Reading a webhook delivery failed; subscribe again.");
        });
      },
      resolve: async (query, item, _a, ctx) => {
        if (item instanceof Error) throw item;
        const { organizationId } = requireScope(ctx, "webhooks:manage");
        const delivery: WebhookDelivery | null = await ctx.prisma.webhookDelivery.findFirst({ ...query, where: { id: (item as DeliveryRef).id, organizationId } });
        if (!delivery) throw new SpoolError("NOT_FOUND", "The delivery was deleted (with its endpoint) meanwhile.");
        return delivery;
      },
    }),
  }));

  return { WebhookEndpointRef: Endpoint, WebhookDeliveryRef: Delivery };
}
