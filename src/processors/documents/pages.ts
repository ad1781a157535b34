// What a read leaves on the Document: one document_pages row per page (text, source,
// confidence, word boxes) and the document-level facts (page count, properties, language,
// word count). Written in one transaction fenced by the attempt, replacing the pages of any
// earlier read, so a cancelled or reclaimed attempt leaves the previous text untouched.
// The same transaction rewrites the Document's PAGE search segments (services/search-index.ts).
import { inTransaction } from "../../engine/queryable.ts";
import type { Job } from "../../engine/types.ts";
import { indexPages, publishIndexed } from "../../services/search-index.ts";
import { fenceAttempt } from "../media/outputs.ts";
import type { MediaDeps } from "../media/source.ts";
import type { ReadResult, ReadWord } from "./read.ts";

/** Rows per insert statement: one page's words can be thousands of entries. */
const PAGES_PER_INSERT = 100;

/** A word as stored: [text, x, y, width, height] plus the OCR confidence when there is one. */
export type StoredWord = [string, number, number, number, number] | [string, number, number, number, number, number];

export function packWords(words: ReadWord[]): StoredWord[] {
  return words.map((w) => (w.confidence === undefined ? [w.text, w.x, w.y, w.width, w.height] : [w.text, w.x, w.y, w.width, w.height, w.confidence]));
}

export async function savePages(deps: MediaDeps, job: Job, attempt: number, documentId: string, read: ReadResult): Promise<void> {
  await inTransaction(deps.pool, async (tx) => {
    await fenceAttempt(tx, job, attempt);
    await tx.query(`delete from document_pages where document_id = $1 and organization_id = $2`, [documentId, job.organizationId]);
    for (let i = 0; i < read.pages.length; i += PAGES_PER_INSERT) {
      const chunk = read.pages.slice(i, i + PAGES_PER_INSERT).map((p) => ({
        page: p.page, width: p.width, height: p.height, text: p.text, source: p.source,
        confidence: p.confidence, word_count: p.wordCount, words: packWords(p.words),
      }));
      await tx.query(
        `insert into document_pages (document_id, organization_id, job_id, page, width, height, text, source, confidence, word_count, words)
         select $1, $2, $3, r.page, r.width, r.height, r.text, r.source, r.confidence, r.word_count, r.words
         from jsonb_to_recordset($4::jsonb) as r(page int, width float8, height float8, text text, source text, confidence float8, word_count int, words jsonb)`,
        [documentId, job.organizationId, job.id, JSON.stringify(chunk)],
      );
    }
    await tx.query(
      `update documents set page_count = $3, properties = coalesce($4::jsonb, properties), language = $5, word_count = $6, text_job_id = $7, updated_at = now()
       where id = $1 and organization_id = $2`,
      [documentId, job.organizationId, read.pageCount, read.properties ? JSON.stringify(read.properties) : null, read.language, read.wordCount, job.id],
    );
    // The pages are searchable when, and only if, this transaction commits.
    const segmentCount = await indexPages(tx, job.organizationId, documentId);
    await publishIndexed(tx, { organizationId: job.organizationId, documentId }, { modes: ["TEXT"], source: "pages", segmentCount, jobId: job.id });
  });
}
