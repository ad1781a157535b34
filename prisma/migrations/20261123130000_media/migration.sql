-- Media facts: what ffprobe says of an asset (outputs: dimensions, duration, codecs) and a
-- label ("720p"), and on a Video the probe of its source and the results of video.analyze
-- (scenes, loudness). Filled by the media processors; null until then.

-- AlterTable
ALTER TABLE "assets" ADD COLUMN "label" TEXT,
ADD COLUMN "media" JSONB;

-- AlterTable
ALTER TABLE "videos" ADD COLUMN "media" JSONB,
ADD COLUMN "analysis" JSONB;
