// Watching webhooks: webhookDeliveries streams the organization's deliveries as they change,
// read from the live job events of their webhook.deliver jobs (src/pubsub/live-updates.ts).
import { SpoolError } from "../../errors.ts";
import type { WebhookDelivery } from "../../generated/prisma/client.ts";
import type { FeedEvent } from "../../pubsub/event-feed.ts";
import * as webhooks from "../../services/webhooks.ts";
import { isUuid } from "../../uuid.ts";
import type { Builder } from "../builder.ts";
import { liveUpdatesOf, requireScope } from "../context.ts";
import { idOf } from "../ids.ts";
import type { WebhookRefs } from "./types.ts";

/** Deliveries whose last streamed state a webhookDeliveries subscription remembers (to skip repeats). */
const SEEN_STATES = 1_000;

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

export function addWebhookSubscription(builder: Builder, { WebhookDeliveryRef: Delivery }: WebhookRefs) {
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
}
