// Watching jobs: job(id) streams one job's state, jobEvents the organization's event feed.
// Both work over graphql-ws and over SSE (the same yoga envelop: auth, limits, masking); the
// live machinery is in src/pubsub/ (live-updates.ts first).
import { SpoolError } from "../../errors.ts";
import type { Job, JobEvent } from "../../generated/prisma/client.ts";
import type { Builder } from "../builder.ts";
import { liveUpdatesOf, requireScope } from "../context.ts";
import { jobIdFrom, type JobRefs } from "./type.ts";

const MAX_TYPES = 50;
const EVENT_ID = /^\d{1,15}$/;

/**
 * Streams end with an Error *value*: the resolver throws it, so the client gets it masked and
 * with its code (a last result with `errors`, then complete). On SSE an iterator that throws
 * would only cut the response.
 */
function unwrap<T>(item: T | Error): T {
  if (item instanceof Error) throw item;
  return item;
}


export function addJobSubscriptions(builder: Builder, refs: JobRefs) {
  const JobEventFilter = builder.inputType("JobEventFilter", {
    fields: (t) => ({
      jobId: t.id({ required: false, description: "Only this job's events." }),
      types: t.stringList({ required: false, description: `Only events of jobs of these types (at most ${MAX_TYPES}).` }),
      kinds: t.field({ type: [refs.JobEventKind], required: false, description: "Only events of these kinds." }),
    }),
  });

  builder.subscriptionFields((t) => ({
    // Plain fields, not prismaField: the stream's rows are read once for all subscribers, so
    // a per-message selection mapping would be wasted work (bench:realtime: ~5% server CPU).
    job: t.field({
      type: "Job" as never,
      description:
        "The job's current state first, then its state after every change (status, stage, progress, log lines); completes after a finished state. " +
        "Ends with UNAVAILABLE when the server loses its database notification connection: subscribe again.",
      args: { id: t.arg.id({ required: true }) },
      subscribe: async (_root, args, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:read");
        return liveUpdatesOf(ctx).watchJob(jobIdFrom(String(args.id)), organizationId);
      },
      // The row is read once for every subscriber of the job, so without this selection's
      // includes: relation fields (events, children, parent) load themselves for each state.
      resolve: (item) => unwrap(item as Job | Error) as never,
    }),
    jobEvents: t.field({
      type: "JobEvent" as never,
      description:
        "Your organization's job events in id order, for dashboards. With `after` (a JobEvent.id), every later event is replayed first, " +
        "then the feed continues live with no gap and no duplicate. Ends with UNAVAILABLE when the server loses its database notification " +
        "connection: subscribe again with `after` set to the last id you received.",
      args: {
        filter: t.arg({ type: JobEventFilter, required: false }),
        after: t.arg.string({ required: false, description: "An event id (JobEvent.id); events after it are replayed first." }),
      },
      subscribe: async (_root, { filter, after }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:read");
        if (after != null && !EVENT_ID.test(after)) throw new SpoolError("INVALID_INPUT", "`after` is a JobEvent.id: digits only.");
        const types = filter?.types?.length ? filter.types : null;
        if (types && types.length > MAX_TYPES) throw new SpoolError("INVALID_INPUT", `filter.types lists at most ${MAX_TYPES} types.`);
        const kinds = (filter?.kinds as readonly string[] | null | undefined)?.length ? (filter!.kinds as readonly string[]) : null;
        const jobId = filter?.jobId != null ? jobIdFrom(String(filter.jobId)) : null;
        if (jobId && !(await ctx.prisma.job.findFirst({ where: { id: jobId, organizationId }, select: { id: true } }))) {
          throw new SpoolError("NOT_FOUND", `No job ${filter!.jobId} in your organization.`);
        }
        return liveUpdatesOf(ctx).openFeed({ organizationId, jobId, kinds, types }, after != null ? Number(after) : null);
      },
      resolve: (item) => unwrap(item as JobEvent | Error) as never,
    }),
  }));
}
