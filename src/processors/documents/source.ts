// The source of a document job: the Document's SOURCE asset (checked to be the job
// organization's), and for an image document its size from the header, refused before any
// decoder runs when it is absurd.
import { imageSizeFromFile } from "image-size/fromFile";
import { JobError } from "../../errors.ts";
import type { Job } from "../../engine/types.ts";
import type { AssetRow } from "../../services/assets.ts";
import type { MediaDeps } from "../media/source.ts";

/** Images beyond this are refused before decoding. */
const MAX_IMAGE_PIXELS = 100_000_000;

/** The Document (of the job's organization) and its SOURCE asset. */
export async function loadDocument(deps: MediaDeps, job: Job, documentId: string): Promise<AssetRow> {
  const { rows } = await deps.pool.query<AssetRow>(
    `select a.* from documents d join assets a on a.document_id = d.id and a.role = 'SOURCE'
     where d.id = $1 and d.organization_id = $2`, [documentId, job.organizationId]);
  if (rows[0]) return rows[0];
  const exists = await deps.pool.query(`select 1 from documents where id = $1 and organization_id = $2`, [documentId, job.organizationId]);
  if (!exists.rowCount) throw new JobError("NOT_FOUND", `No Document ${documentId} in your organization.`);
  throw new JobError("CONFLICT", "The Document has no source file yet (its download is pending or failed); run the job once it is READY.");
}

/**
 * Width and height from the image's header, without decoding it, refused above
 * MAX_IMAGE_PIXELS: a 60000×60000 PNG of a few bytes must fail here, not in a decoder.
 */
export async function imageDimensions(file: string): Promise<{ width: number; height: number }> {
  const size = await imageSizeFromFile(file).catch(() => null);
  const width = size?.width ?? 0;
  const height = size?.height ?? 0;
  if (!(width > 0 && height > 0)) throw new JobError("DOCUMENT_CORRUPTED", "The image could not be read: its header has no valid size.");
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new JobError("DOCUMENT_TOO_LARGE", `The image is ${width}×${height}; the largest accepted is ${MAX_IMAGE_PIXELS / 1e6} megapixels.`, { details: { width, height, maxPixels: MAX_IMAGE_PIXELS } });
  }
  return { width, height };
}
