-- The console's site list (issue 13): find a site by part of its name — kanji or kana, also
-- with one or two characters (山田) —, by its id, 医療機関コード or phone (hyphens ignored),
-- and compute every site's state from its open incidents without reading them all.
-- Owner of the search columns' meaning: server/src/fleet/site_list.rs.

-- The one folding of names and queries: NFKC (half-width kana and full-width letters and
-- digits become their usual forms), lower case, hiragana as katakana (さくら = サクラ), and no
-- white space (「山田 医院」 = 「山田医院」). Queries go through the same function in SQL, so a
-- name and a query are always folded alike.
CREATE FUNCTION onshi_search_key(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT translate(lower(regexp_replace(normalize(t, NFKC), '\s+', '', 'g')),
        'ぁあぃいぅうぇえぉおかがきぎくぐけげこごさざしじすずせぜそぞただちぢっつづてでとどなにぬねのはばぱひびぴふぶぷへべぺほぼぽまみむめもゃやゅゆょよらりるれろゎわゐゑをんゔゕゖゝゞ',
        'ァアィイゥウェエォオカガキギクグケゲコゴサザシジスズセゼソゾタダチヂッツヅテデトドナニヌネノハバパヒビピフブプヘベペホボポマミムメモャヤュユョヨラリルレロヮワヰヱヲンヴヵヶヽヾ') $$;

-- Every character and every pair of adjacent characters of a folded name. pg_trgm indexes
-- only queries of three characters or more, and Japanese names are short: 「山田」 is two.
-- A GIN index on these grams answers a query of one character (its unigram) or more (all of
-- its bigrams must be there); the exact `LIKE` then rechecks the few candidates.
CREATE FUNCTION onshi_name_grams(key text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(DISTINCT g ORDER BY g), '{}') FROM (
              SELECT substr(key, i, 1) AS g FROM generate_series(1, char_length(key)) AS i
              UNION ALL
              SELECT substr(key, i, 2) FROM generate_series(1, char_length(key) - 1) AS i) grams $$;

-- The grams a folded query must find: itself when it is one character, else its bigrams.
CREATE FUNCTION onshi_query_grams(key text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN char_length(key) <= 1 THEN ARRAY[key]
                 ELSE ARRAY(SELECT DISTINCT substr(key, i, 2)
                            FROM generate_series(1, char_length(key) - 1) AS i) END $$;

ALTER TABLE sites
    ADD COLUMN search_key   text GENERATED ALWAYS AS (onshi_search_key(name)) STORED,
    ADD COLUMN name_grams   text[] GENERATED ALWAYS AS (onshi_name_grams(onshi_search_key(name))) STORED,
    -- 「03-1234-5678」, 「０３（１２３４）５６７８」 and 「0312345678」 are one number.
    ADD COLUMN phone_digits text GENERATED ALWAYS AS (regexp_replace(normalize(phone, NFKC), '[^0-9]', '', 'g')) STORED;

CREATE INDEX sites_name_grams_idx ON sites USING gin (name_grams);
-- Exact or leading-digits phone search; most sites have a phone, the empty ones never match.
CREATE INDEX sites_phone_digits_idx ON sites (phone_digits text_pattern_ops) WHERE phone_digits <> '';
CREATE INDEX sites_medical_code_idx ON sites (medical_code text_pattern_ops) WHERE medical_code <> '';
-- Site ids are searched by their beginning (「seed-0001」 finds seed-000100…).
CREATE INDEX sites_site_id_pattern_idx ON sites (site_id text_pattern_ops);
-- Keyset pages in name order (the list's default sort).
CREATE INDEX sites_name_order_idx ON sites (name, site_id);
-- Filters operators combine with a search.
CREATE INDEX sites_prefecture_idx ON sites (prefecture);

-- A site's state follows its open incidents (fleet::query::STATUS_SQL): one small index of the
-- incidents that are not resolved, so the per-site aggregate costs the open incidents, not
-- the whole history.
CREATE INDEX incidents_active_site_idx ON incidents (site_id) INCLUDE (rule, severity)
    WHERE state <> 'resolved';
-- The dashboard's newest incidents.
CREATE INDEX incidents_active_first_seen_idx ON incidents (first_seen DESC)
    WHERE state <> 'resolved';
