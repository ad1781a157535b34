// Managing webhooks: create, update, delete, rotate secrets (an endpoint's, the organization's
// job webhook secret), test and redeliver. Each needs webhooks:manage; a new secret is in the
// payload once and never readable again.
import { encodeGlobalID } from "@pothos/plugin-relay";
import * as webhooks from "../../services/webhooks.ts";
import type { Builder } from "../builder.ts";
import { requireScope, webhooksOf, type Context } from "../context.ts";
import { idOf } from "../ids.ts";
import type { WebhookRefs } from "./types.ts";

const EVENT_TYPES_NOTE =
  "Event types are plain strings (job.created, video.ready, …: dots are not valid in GraphQL enum names); see the webhookEventTypes query. Unknown ones are INVALID_INPUT.";

export function addWebhookMutations(builder: Builder, { WebhookDeliveryRef: Delivery }: WebhookRefs) {
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
}
