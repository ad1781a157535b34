-- Assets (stored blobs), the Video and Document objects built from them, and settings.
-- Shaped like `prisma migrate diff` output for prisma/schema.prisma, plus what Prisma
-- cannot express (partial unique indexes), marked "spool:" below.

-- CreateEnum
CREATE TYPE "asset_kind" AS ENUM ('VIDEO', 'AUDIO', 'IMAGE', 'PDF', 'CAPTIONS');

-- CreateEnum
CREATE TYPE "asset_origin" AS ENUM ('UPLOAD', 'URL', 'JOB_OUTPUT');

-- CreateTable
CREATE TABLE "videos" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "organization_id" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "ingest_job_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "videos_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "documents" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "organization_id" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "ingest_job_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "documents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "assets" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "organization_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "filename" TEXT,
    "size" BIGINT NOT NULL,
    "content_type" TEXT NOT NULL,
    "kind" "asset_kind" NOT NULL,
    "sha256" TEXT NOT NULL,
    "origin" "asset_origin" NOT NULL,
    "source_url" TEXT,
    "upload_id" TEXT,
    "job_id" UUID,
    "video_id" UUID,
    "document_id" UUID,
    "role" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "assets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "settings" (
    "name" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "settings_pkey" PRIMARY KEY ("name")
);

-- CreateIndex
CREATE INDEX "videos_organization_id_created_at_idx" ON "videos"("organization_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "videos_tags_idx" ON "videos" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "documents_organization_id_created_at_idx" ON "documents"("organization_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "documents_tags_idx" ON "documents" USING GIN ("tags");

-- CreateIndex
CREATE UNIQUE INDEX "assets_key_key" ON "assets"("key");

-- CreateIndex
CREATE UNIQUE INDEX "assets_upload_id_key" ON "assets"("upload_id");

-- CreateIndex
CREATE INDEX "assets_organization_id_created_at_idx" ON "assets"("organization_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "assets_video_id_idx" ON "assets"("video_id");

-- CreateIndex
CREATE INDEX "assets_document_id_idx" ON "assets"("document_id");

-- CreateIndex
CREATE INDEX "assets_job_id_idx" ON "assets"("job_id");

-- AddForeignKey
ALTER TABLE "videos" ADD CONSTRAINT "videos_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "videos" ADD CONSTRAINT "videos_ingest_job_id_fkey" FOREIGN KEY ("ingest_job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "documents" ADD CONSTRAINT "documents_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "documents" ADD CONSTRAINT "documents_ingest_job_id_fkey" FOREIGN KEY ("ingest_job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "assets" ADD CONSTRAINT "assets_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "assets" ADD CONSTRAINT "assets_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "assets" ADD CONSTRAINT "assets_video_id_fkey" FOREIGN KEY ("video_id") REFERENCES "videos"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "assets" ADD CONSTRAINT "assets_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- spool: one SOURCE asset per Video and per Document; an asset belongs to at most one of them.
CREATE UNIQUE INDEX "assets_video_source_key" ON "assets"("video_id") WHERE "role" = 'SOURCE';
CREATE UNIQUE INDEX "assets_document_source_key" ON "assets"("document_id") WHERE "role" = 'SOURCE';
ALTER TABLE "assets" ADD CONSTRAINT "assets_one_owner" CHECK ("video_id" IS NULL OR "document_id" IS NULL);

-- spool: an asset and the Video or Document it belongs to are always one organization's
-- (defence in depth under the services' checks; Prisma cannot express a composite foreign
-- key over an optional and a required column).
CREATE UNIQUE INDEX "videos_id_organization_id_key" ON "videos"("id", "organization_id");
CREATE UNIQUE INDEX "documents_id_organization_id_key" ON "documents"("id", "organization_id");
ALTER TABLE "assets" ADD CONSTRAINT "assets_video_same_organization_fkey" FOREIGN KEY ("video_id", "organization_id") REFERENCES "videos"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "assets" ADD CONSTRAINT "assets_document_same_organization_fkey" FOREIGN KEY ("document_id", "organization_id") REFERENCES "documents"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;
