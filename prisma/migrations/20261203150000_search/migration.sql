-- Search: what Spool read inside Videos and Documents, kept per organization in Postgres.
--
-- search_items: one row per Video / Document, what filters and facets read (type, duration,
--   quality, content type, languages, tags, created) and the trigram index of titles and tags
--   (typo tolerance). Kept by triggers on videos, documents, assets and caption_tracks, so it
--   can never drift from the items: it changes in the transaction that changes them.
-- search_segments: one row per piece of searchable text, with where it is: TEXT (title, tags,
--   description, metadata, filename: written by the same triggers), PAGE (a document page:
--   spool_search_index_pages, called in the transaction that stores document_pages), CAPTION
--   (a caption cue: the transaction that stores its track) and ON_SCREEN_TEXT (video.index).
--   Its tsvector is generated from the text with the stemmer of the segment's language
--   (`simple` when unknown), weighted by kind (title A, tags B, description C, the rest D).
-- search_configs: which text-search configurations an organization's segments use, so a
--   query is parsed once per configuration present (a statement trigger keeps it).
-- caption_tracks: the caption tracks of a Video (attached files or subtitle streams of the
--   source), each stored as a WebVTT asset; their cues are CAPTION segments.

CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- A language code (ISO 639-1, 639-3 or a BCP-47 tag such as en-US) as ISO 639-3, the code
-- Document.language (franc) uses; null when it is not one.
CREATE FUNCTION "spool_language_code"(lang TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p IS NULL OR p !~ '^[a-z]{2,3}$' THEN NULL
    WHEN length(p) = 3 THEN p
    ELSE CASE p
      WHEN 'en' THEN 'eng' WHEN 'fr' THEN 'fra' WHEN 'de' THEN 'deu' WHEN 'es' THEN 'spa' WHEN 'it' THEN 'ita'
      WHEN 'pt' THEN 'por' WHEN 'nl' THEN 'nld' WHEN 'sv' THEN 'swe' WHEN 'no' THEN 'nor' WHEN 'nb' THEN 'nob'
      WHEN 'nn' THEN 'nno' WHEN 'da' THEN 'dan' WHEN 'fi' THEN 'fin' WHEN 'ru' THEN 'rus' WHEN 'hu' THEN 'hun'
      WHEN 'ro' THEN 'ron' WHEN 'tr' THEN 'tur' WHEN 'ar' THEN 'arb' WHEN 'el' THEN 'ell' WHEN 'id' THEN 'ind'
      WHEN 'ga' THEN 'gle' WHEN 'lt' THEN 'lit' WHEN 'ne' THEN 'npi' WHEN 'ta' THEN 'tam' WHEN 'sr' THEN 'srp'
      WHEN 'hy' THEN 'hye' WHEN 'eu' THEN 'eus' WHEN 'ca' THEN 'cat' WHEN 'hi' THEN 'hin' WHEN 'yi' THEN 'ydd'
      WHEN 'pl' THEN 'pol' WHEN 'cs' THEN 'ces' WHEN 'sk' THEN 'slk' WHEN 'uk' THEN 'ukr' WHEN 'bg' THEN 'bul'
      WHEN 'hr' THEN 'hrv' WHEN 'sl' THEN 'slv' WHEN 'ja' THEN 'jpn' WHEN 'zh' THEN 'cmn' WHEN 'ko' THEN 'kor'
      WHEN 'he' THEN 'heb' WHEN 'fa' THEN 'pes' WHEN 'vi' THEN 'vie' WHEN 'th' THEN 'tha' WHEN 'ms' THEN 'zlm'
      ELSE NULL END
  END
  FROM (SELECT lower(split_part(split_part(trim(lang), '-', 1), '_', 1)) AS p) s
$$;

-- The stemmer of a language (any code spool_language_code takes); `simple` (no stemming,
-- no stopwords) when Postgres has none for it or the language is unknown.
CREATE FUNCTION "spool_search_config"(lang TEXT) RETURNS regconfig LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (CASE spool_language_code(lang)
    WHEN 'eng' THEN 'english' WHEN 'fra' THEN 'french' WHEN 'deu' THEN 'german' WHEN 'spa' THEN 'spanish'
    WHEN 'ita' THEN 'italian' WHEN 'por' THEN 'portuguese' WHEN 'nld' THEN 'dutch' WHEN 'swe' THEN 'swedish'
    WHEN 'nor' THEN 'norwegian' WHEN 'nob' THEN 'norwegian' WHEN 'nno' THEN 'norwegian' WHEN 'dan' THEN 'danish'
    WHEN 'fin' THEN 'finnish' WHEN 'rus' THEN 'russian' WHEN 'hun' THEN 'hungarian' WHEN 'ron' THEN 'romanian'
    WHEN 'tur' THEN 'turkish' WHEN 'arb' THEN 'arabic' WHEN 'ara' THEN 'arabic' WHEN 'ell' THEN 'greek'
    WHEN 'ind' THEN 'indonesian' WHEN 'gle' THEN 'irish' WHEN 'lit' THEN 'lithuanian' WHEN 'npi' THEN 'nepali'
    WHEN 'nep' THEN 'nepali' WHEN 'tam' THEN 'tamil' WHEN 'srp' THEN 'serbian' WHEN 'hye' THEN 'armenian'
    WHEN 'eus' THEN 'basque' WHEN 'cat' THEN 'catalan' WHEN 'hin' THEN 'hindi' WHEN 'ydd' THEN 'yiddish'
    ELSE 'simple' END)::regconfig
$$;

-- CreateTable
CREATE TABLE "caption_tracks" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "organization_id" UUID NOT NULL,
    "video_id" UUID NOT NULL,
    -- The track as WebVTT (role CAPTIONS on the Video), what players and the HLS package use.
    "asset_id" UUID NOT NULL,
    -- The file it was made from when attached (an SRT or WebVTT asset); null for a stream of the source.
    "source_asset_id" UUID,
    -- The subtitle stream of the source it was extracted from (ffprobe index); null when attached.
    "stream_index" INTEGER,
    -- BCP-47 as given (en, pt-BR); "und" when unknown.
    "language" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    -- SUBTITLES, CAPTIONS (with sound descriptions), DESCRIPTIONS, CHAPTERS, METADATA: WebVTT's kinds.
    "kind" TEXT NOT NULL,
    "cue_count" INTEGER NOT NULL,
    "job_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "caption_tracks_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "caption_tracks_kind_check" CHECK ("kind" IN ('SUBTITLES', 'CAPTIONS', 'DESCRIPTIONS', 'CHAPTERS', 'METADATA'))
);
CREATE UNIQUE INDEX "caption_tracks_id_organization_id_key" ON "caption_tracks"("id", "organization_id");
CREATE INDEX "caption_tracks_video_id_idx" ON "caption_tracks"("video_id");
-- One track per subtitle stream of a Video's source: a re-run of video.index replaces it.
CREATE UNIQUE INDEX "caption_tracks_video_stream_key" ON "caption_tracks"("video_id", "stream_index") WHERE "stream_index" IS NOT NULL;
ALTER TABLE "caption_tracks" ADD CONSTRAINT "caption_tracks_video_same_organization_fkey" FOREIGN KEY ("video_id", "organization_id") REFERENCES "videos"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "caption_tracks" ADD CONSTRAINT "caption_tracks_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "assets"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "caption_tracks" ADD CONSTRAINT "caption_tracks_source_asset_id_fkey" FOREIGN KEY ("source_asset_id") REFERENCES "assets"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "caption_tracks" ADD CONSTRAINT "caption_tracks_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- CreateTable
CREATE TABLE "search_items" (
    "item_id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "video_id" UUID,
    "document_id" UUID,
    "item_type" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "tags" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    -- Title and tags, what the trigram (typo-tolerant) match reads.
    "names" TEXT NOT NULL,
    "content_type" TEXT,
    "duration_sec" DOUBLE PRECISION,
    "page_count" INTEGER,
    -- SD, HD or 4K from the short side of the source's picture (under 720, under 2160, 2160 and up).
    "quality" TEXT,
    -- ISO 639-3: the Document's detected language; a Video's caption tracks' languages.
    "languages" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "search_items_pkey" PRIMARY KEY ("item_id"),
    CONSTRAINT "search_items_type_check" CHECK (("item_type" = 'VIDEO' AND "video_id" = "item_id" AND "document_id" IS NULL)
      OR ("item_type" = 'DOCUMENT' AND "document_id" = "item_id" AND "video_id" IS NULL)),
    CONSTRAINT "search_items_quality_check" CHECK ("quality" IS NULL OR "quality" IN ('SD', 'HD', '4K'))
);
CREATE INDEX "search_items_organization_id_created_at_idx" ON "search_items"("organization_id", "created_at" DESC);
CREATE INDEX "search_items_names_trgm_idx" ON "search_items" USING GIN ("names" gin_trgm_ops);
ALTER TABLE "search_items" ADD CONSTRAINT "search_items_video_same_organization_fkey" FOREIGN KEY ("video_id", "organization_id") REFERENCES "videos"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "search_items" ADD CONSTRAINT "search_items_document_same_organization_fkey" FOREIGN KEY ("document_id", "organization_id") REFERENCES "documents"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateTable
CREATE TABLE "search_segments" (
    "id" BIGSERIAL NOT NULL,
    "organization_id" UUID NOT NULL,
    "item_id" UUID NOT NULL,
    -- TEXT, AUDIO or VISUAL: the query's modes.
    "mode" TEXT NOT NULL,
    -- TITLE, TAGS, DESCRIPTION, METADATA, FILENAME, PAGE, CAPTION, ON_SCREEN_TEXT.
    "kind" TEXT NOT NULL,
    -- What wrote it, and what replaces it on a re-run: 'item', 'pages', 'captions:<track id>', 'visual'.
    "source" TEXT NOT NULL,
    "page" INTEGER,
    "start_ms" INTEGER,
    "duration_ms" INTEGER,
    -- {x, y, width, height}: PDF points (documents) or frame pixels (on-screen text), origin top-left.
    "box" JSONB,
    "confidence" REAL,
    -- ISO 639-3, or null when unknown.
    "language" TEXT,
    "config" regconfig NOT NULL,
    "text" TEXT NOT NULL,
    "tsv" tsvector GENERATED ALWAYS AS (setweight(to_tsvector("config", left("text", 200000)),
      CASE "kind" WHEN 'TITLE' THEN 'A' WHEN 'TAGS' THEN 'B' WHEN 'DESCRIPTION' THEN 'C' ELSE 'D' END::"char")) STORED,

    CONSTRAINT "search_segments_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "search_segments_mode_check" CHECK ("mode" IN ('TEXT', 'AUDIO', 'VISUAL')),
    CONSTRAINT "search_segments_kind_check" CHECK ("kind" IN ('TITLE', 'TAGS', 'DESCRIPTION', 'METADATA', 'FILENAME', 'PAGE', 'CAPTION', 'ON_SCREEN_TEXT'))
);
CREATE INDEX "search_segments_tsv_idx" ON "search_segments" USING GIN ("tsv");
CREATE INDEX "search_segments_item_id_source_idx" ON "search_segments"("item_id", "source");
CREATE INDEX "search_segments_organization_id_idx" ON "search_segments"("organization_id");
ALTER TABLE "search_segments" ADD CONSTRAINT "search_segments_item_id_fkey" FOREIGN KEY ("item_id") REFERENCES "search_items"("item_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateTable
CREATE TABLE "search_configs" (
    "organization_id" UUID NOT NULL,
    "config" regconfig NOT NULL,
    CONSTRAINT "search_configs_pkey" PRIMARY KEY ("organization_id", "config")
);
ALTER TABLE "search_configs" ADD CONSTRAINT "search_configs_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE FUNCTION "spool_search_configs_seen"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO search_configs (organization_id, config)
  SELECT DISTINCT organization_id, config FROM new_segments
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER "search_segments_configs" AFTER INSERT ON "search_segments"
  REFERENCING NEW TABLE AS new_segments FOR EACH STATEMENT EXECUTE FUNCTION "spool_search_configs_seen"();
CREATE TRIGGER "search_segments_configs_update" AFTER UPDATE ON "search_segments"
  REFERENCING NEW TABLE AS new_segments FOR EACH STATEMENT EXECUTE FUNCTION "spool_search_configs_seen"();

-- The string values of a JSON document, space separated (what a Video's metadata says).
CREATE FUNCTION "spool_json_strings"(doc JSONB) RETURNS TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(string_agg(v #>> '{}', ' '), '')
  FROM jsonb_path_query(coalesce(doc, '{}'::jsonb), 'strict $.**') AS v
  WHERE jsonb_typeof(v) IN ('string', 'number')
$$;

-- Rewrites an item's search row and its TEXT segments from the item as it is now; removes
-- them when the item is gone. Called by the triggers below and by search.reindex.
CREATE FUNCTION "spool_search_refresh_item"(item UUID) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
  r RECORD;
  lang TEXT;
  cfg regconfig;
BEGIN
  SELECT 'VIDEO' AS item_type, v.id, v.organization_id, v.title, v.description, v.tags, v.metadata, v.created_at,
         (v.media ->> 'durationSec')::float8 AS duration_sec, NULL::int AS page_count,
         CASE WHEN v.media -> 'video' IS NULL OR jsonb_typeof(v.media -> 'video') <> 'object' THEN NULL
              WHEN least((v.media #>> '{video,width}')::int, (v.media #>> '{video,height}')::int) >= 2160 THEN '4K'
              WHEN least((v.media #>> '{video,width}')::int, (v.media #>> '{video,height}')::int) >= 720 THEN 'HD'
              ELSE 'SD' END AS quality,
         ARRAY(SELECT DISTINCT c FROM (SELECT spool_language_code(t.language) AS c FROM caption_tracks t WHERE t.video_id = v.id) x WHERE c IS NOT NULL ORDER BY c) AS languages,
         (SELECT t.language FROM caption_tracks t WHERE t.video_id = v.id ORDER BY t.created_at, t.id LIMIT 1) AS language
    INTO r FROM videos v WHERE v.id = item;
  IF NOT FOUND THEN
    SELECT 'DOCUMENT' AS item_type, d.id, d.organization_id, d.title, d.description, d.tags, d.metadata, d.created_at,
           NULL::float8 AS duration_sec, d.page_count, NULL::text AS quality,
           CASE WHEN d.language IS NULL THEN ARRAY[]::text[] ELSE ARRAY[d.language] END AS languages, d.language
      INTO r FROM documents d WHERE d.id = item;
  END IF;
  IF NOT FOUND THEN
    DELETE FROM search_items WHERE item_id = item;
    RETURN;
  END IF;

  INSERT INTO search_items AS s (item_id, organization_id, video_id, document_id, item_type, title, tags, names, content_type, duration_sec, page_count, quality, languages, created_at)
  VALUES (r.id, r.organization_id, CASE WHEN r.item_type = 'VIDEO' THEN r.id END, CASE WHEN r.item_type = 'DOCUMENT' THEN r.id END,
          r.item_type, r.title, r.tags, r.title || ' ' || array_to_string(r.tags, ' '),
          (SELECT a.content_type FROM assets a WHERE (a.video_id = item OR a.document_id = item) AND a.role = 'SOURCE' LIMIT 1),
          r.duration_sec, r.page_count, r.quality, r.languages, r.created_at)
  ON CONFLICT (item_id) DO UPDATE SET title = EXCLUDED.title, tags = EXCLUDED.tags, names = EXCLUDED.names,
    content_type = EXCLUDED.content_type, duration_sec = EXCLUDED.duration_sec, page_count = EXCLUDED.page_count,
    quality = EXCLUDED.quality, languages = EXCLUDED.languages;

  cfg := spool_search_config(r.language);
  lang := spool_language_code(r.language);
  DELETE FROM search_segments WHERE item_id = item AND source = 'item';
  INSERT INTO search_segments (organization_id, item_id, mode, kind, source, language, config, text)
  SELECT r.organization_id, item, 'TEXT', k, 'item', lang, cfg, t
  FROM (VALUES
    ('TITLE', r.title),
    ('TAGS', array_to_string(r.tags, ' ')),
    ('DESCRIPTION', r.description),
    ('METADATA', spool_json_strings(r.metadata)),
    ('FILENAME', (SELECT a.filename FROM assets a WHERE (a.video_id = item OR a.document_id = item) AND a.role = 'SOURCE' LIMIT 1))
  ) AS f(k, t)
  WHERE t IS NOT NULL AND btrim(t) <> '';
END $$;

-- Rewrites a Document's PAGE segments from its document_pages, in the caller's transaction
-- (the one that stored the pages). Returns how many segments it wrote.
CREATE FUNCTION "spool_search_index_pages"(doc UUID) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  n INTEGER;
BEGIN
  PERFORM spool_search_refresh_item(doc);
  DELETE FROM search_segments WHERE item_id = doc AND source = 'pages';
  INSERT INTO search_segments (organization_id, item_id, mode, kind, source, page, confidence, language, config, text)
  SELECT p.organization_id, doc, 'TEXT', 'PAGE', 'pages', p.page, p.confidence, d.language, spool_search_config(d.language), p.text
  FROM document_pages p JOIN documents d ON d.id = p.document_id
  WHERE p.document_id = doc AND btrim(p.text) <> '';
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE FUNCTION "spool_search_item_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME IN ('videos', 'documents') THEN
    PERFORM spool_search_refresh_item(NEW.id);
  ELSIF TG_TABLE_NAME = 'caption_tracks' THEN
    PERFORM spool_search_refresh_item(CASE WHEN TG_OP = 'DELETE' THEN OLD.video_id ELSE NEW.video_id END);
  ELSE -- assets: a SOURCE came, went or moved (its filename and content type are searched and filtered)
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.role IS NOT DISTINCT FROM 'SOURCE' THEN
      PERFORM spool_search_refresh_item(coalesce(OLD.video_id, OLD.document_id));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.role IS NOT DISTINCT FROM 'SOURCE' THEN
      PERFORM spool_search_refresh_item(coalesce(NEW.video_id, NEW.document_id));
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "videos_search" AFTER INSERT OR UPDATE OF "title", "description", "tags", "metadata", "media" ON "videos"
  FOR EACH ROW EXECUTE FUNCTION "spool_search_item_changed"();
CREATE TRIGGER "documents_search" AFTER INSERT OR UPDATE OF "title", "description", "tags", "metadata", "language", "page_count" ON "documents"
  FOR EACH ROW EXECUTE FUNCTION "spool_search_item_changed"();
CREATE TRIGGER "assets_search" AFTER INSERT OR UPDATE OF "role", "video_id", "document_id", "filename" OR DELETE ON "assets"
  FOR EACH ROW EXECUTE FUNCTION "spool_search_item_changed"();
CREATE TRIGGER "caption_tracks_search" AFTER INSERT OR UPDATE OF "language" OR DELETE ON "caption_tracks"
  FOR EACH ROW EXECUTE FUNCTION "spool_search_item_changed"();

-- Items that exist before this migration.
SELECT spool_search_refresh_item(id) FROM videos;
SELECT spool_search_refresh_item(id) FROM documents;
SELECT spool_search_index_pages(id) FROM documents WHERE EXISTS (SELECT 1 FROM document_pages p WHERE p.document_id = documents.id);
