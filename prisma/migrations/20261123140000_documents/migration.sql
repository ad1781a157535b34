-- Documents, read: what a document job learnt of the file (page count, the PDF's own
-- properties, language, words) and the text of each page with where it came from (the PDF's
-- text layer or OCR), its confidence and its word boxes (for search highlighting).
-- A Document made by document.transform records the job that made it and what it came from.

-- AlterTable
ALTER TABLE "documents" ADD COLUMN "page_count" INTEGER,
ADD COLUMN "properties" JSONB,
ADD COLUMN "language" TEXT,
ADD COLUMN "word_count" INTEGER,
ADD COLUMN "text_job_id" UUID,
ADD COLUMN "created_by_job_id" UUID,
ADD COLUMN "derived_from_id" UUID;

-- CreateTable
CREATE TABLE "document_pages" (
    "document_id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "page" INTEGER NOT NULL,
    "width" DOUBLE PRECISION NOT NULL,
    "height" DOUBLE PRECISION NOT NULL,
    "text" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "confidence" DOUBLE PRECISION,
    "word_count" INTEGER NOT NULL,
    "words" JSONB NOT NULL DEFAULT '[]',
    "job_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "document_pages_pkey" PRIMARY KEY ("document_id","page"),
    CONSTRAINT "document_pages_page_check" CHECK ("page" >= 1),
    CONSTRAINT "document_pages_source_check" CHECK ("source" IN ('TEXT_LAYER', 'OCR', 'NONE')),
    CONSTRAINT "document_pages_confidence_check" CHECK ("confidence" IS NULL OR ("confidence" >= 0 AND "confidence" <= 100))
);

-- CreateIndex
CREATE INDEX "document_pages_organization_id_idx" ON "document_pages"("organization_id");
CREATE INDEX "documents_created_by_job_id_idx" ON "documents"("created_by_job_id");
CREATE INDEX "documents_derived_from_id_idx" ON "documents"("derived_from_id");

-- AddForeignKey: a page belongs to a Document of its own organization.
ALTER TABLE "document_pages" ADD CONSTRAINT "document_pages_document_same_organization_fkey" FOREIGN KEY ("document_id", "organization_id") REFERENCES "documents"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "document_pages" ADD CONSTRAINT "document_pages_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "documents" ADD CONSTRAINT "documents_text_job_id_fkey" FOREIGN KEY ("text_job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "documents" ADD CONSTRAINT "documents_created_by_job_id_fkey" FOREIGN KEY ("created_by_job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;
-- The source of a derived Document is in the same organization; deleting it keeps the copy.
ALTER TABLE "documents" ADD CONSTRAINT "documents_derived_from_same_organization_fkey" FOREIGN KEY ("derived_from_id", "organization_id") REFERENCES "documents"("id", "organization_id") ON DELETE SET NULL ("derived_from_id") ON UPDATE CASCADE;

-- Text outputs of document.process (plain text, Markdown, HTML).
ALTER TYPE "asset_kind" ADD VALUE 'TEXT';
