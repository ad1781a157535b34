-- The query's typo tolerance: the items whose title and tags (search_items.names) hold a
-- close match of `q` (pg_trgm word_similarity), through the trigram GIN index. A function so
-- that it can carry its own threshold: `<%` compares with pg_trgm.word_similarity_threshold,
-- whose default (0.6) misses one swapped pair of letters in a 7-letter word ("harbuor" is
-- 0.5 from "harbour"); a SET on the function changes it for this lookup only, not for the
-- session that runs the search.
CREATE FUNCTION "spool_search_fuzzy"(org UUID, q TEXT) RETURNS TABLE (item_id UUID, similarity REAL, title_similarity REAL)
LANGUAGE sql STABLE PARALLEL SAFE
SET pg_trgm.word_similarity_threshold = 0.45
AS $$
  SELECT i.item_id, word_similarity(q, i.names), word_similarity(q, i.title)
  FROM search_items i
  WHERE i.organization_id = org AND q <% i.names
$$;
