// The whole GraphQL schema, built from one file per domain noun.
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from "graphql";
import { createBuilder } from "./builder.ts";
import { addAssetTypes } from "./asset.ts";
import { addCaptionTypes } from "./captions.ts";
import { addItemTypes } from "./items.ts";
import { addDocumentJobTypes } from "./document-jobs.ts";
import { addDocumentTransform } from "./document-transform.ts";
import { addJobMutations } from "./job/mutations.ts";
import { addJobQueries } from "./job/queries.ts";
import { addJobSubscriptions } from "./job/subscriptions.ts";
import { addJobTypes } from "./job/type.ts";
import { addVideoJobTypes } from "./video-jobs.ts";
import { addVideoOutputFields } from "./video-outputs.ts";
import { addOrganizationTypes } from "./organization.ts";
import { addSearchTypes } from "./search.ts";
import { addSearchReindex } from "./search-reindex.ts";
import { addWebhookMutations } from "./webhooks/mutations.ts";
import { addWebhookSubscription } from "./webhooks/subscription.ts";
import { addWebhookTypes } from "./webhooks/types.ts";

export function buildSchema(): GraphQLSchema {
  const builder = createBuilder();
  const jobRefs = addJobTypes(builder);
  addJobQueries(builder, jobRefs);
  addJobMutations(builder, jobRefs);
  addJobSubscriptions(builder, jobRefs);
  addOrganizationTypes(builder);
  const assetRefs = addAssetTypes(builder);
  addItemTypes(builder, { ...jobRefs, ...assetRefs });
  addVideoOutputFields(builder, assetRefs);
  addCaptionTypes(builder, assetRefs);
  addVideoJobTypes(builder);
  const documentRefs = addDocumentJobTypes(builder);
  addDocumentTransform(builder, documentRefs);
  addSearchTypes(builder, assetRefs);
  addSearchReindex(builder);
  const webhookRefs = addWebhookTypes(builder);
  addWebhookMutations(builder, webhookRefs);
  addWebhookSubscription(builder, webhookRefs);
  return builder.toSchema();
}

/** The SDL committed as schema/schema.graphql (sorted, so diffs show real changes). */
export function printSpoolSchema(): string {
  return `${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}
