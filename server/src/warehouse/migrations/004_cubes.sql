-- Chorus warehouse, schema version 4: score-count cubes.
--
-- Every figure Chorus shows is a function of per-cell score histograms, and histograms add up.
-- The cubes keep them per day, changed in the same transaction as the records they count, so
-- an aggregate costs what its answer costs, not what the history costs. `sN` holds the
-- responses scored N (0..10; a measure uses the slots of its scale).
--
-- Rows are signed deltas: a key may appear in several rows (one per batch that touched it) and
-- readers always sum, so a batch only appends, with no index to maintain; compaction merges
-- the rows of a key now and then. The `*_recount` views are the one definition of what the
-- sums must equal: the migration fills the cubes from them, `chorus verify` compares against
-- them, `chorus retag` rebuilds topic counts from them.

CREATE TABLE score_counts (
    market  VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    day     DATE    NOT NULL,   -- occurred_at::DATE (UTC)
    measure VARCHAR NOT NULL,   -- nps | csat | ces | stars
    s0 BIGINT NOT NULL, s1 BIGINT NOT NULL, s2 BIGINT NOT NULL, s3 BIGINT NOT NULL,
    s4 BIGINT NOT NULL, s5 BIGINT NOT NULL, s6 BIGINT NOT NULL, s7 BIGINT NOT NULL,
    s8 BIGINT NOT NULL, s9 BIGINT NOT NULL, s10 BIGINT NOT NULL
);

-- Commented records only. `topic` '*' counts every commented record (the "with text" base a
-- topic is compared against); measure 'commented' counts records whatever their scores, in s0.
CREATE TABLE topic_counts (
    market  VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    day     DATE    NOT NULL,
    topic   VARCHAR NOT NULL,
    measure VARCHAR NOT NULL,   -- commented | nps | csat | ces | stars
    s0 BIGINT NOT NULL, s1 BIGINT NOT NULL, s2 BIGINT NOT NULL, s3 BIGINT NOT NULL,
    s4 BIGINT NOT NULL, s5 BIGINT NOT NULL, s6 BIGINT NOT NULL, s7 BIGINT NOT NULL,
    s8 BIGINT NOT NULL, s9 BIGINT NOT NULL, s10 BIGINT NOT NULL
);

CREATE VIEW score_counts_recount AS
SELECT market, channel, day, measure,
    count(*) FILTER (WHERE score = 0) AS s0, count(*) FILTER (WHERE score = 1) AS s1,
    count(*) FILTER (WHERE score = 2) AS s2, count(*) FILTER (WHERE score = 3) AS s3,
    count(*) FILTER (WHERE score = 4) AS s4, count(*) FILTER (WHERE score = 5) AS s5,
    count(*) FILTER (WHERE score = 6) AS s6, count(*) FILTER (WHERE score = 7) AS s7,
    count(*) FILTER (WHERE score = 8) AS s8, count(*) FILTER (WHERE score = 9) AS s9,
    count(*) FILTER (WHERE score = 10) AS s10
FROM (UNPIVOT (SELECT market, channel, occurred_at::DATE AS day, nps, csat, ces, stars
               FROM records)
      ON nps, csat, ces, stars INTO NAME measure VALUE score)
GROUP BY market, channel, day, measure;

CREATE VIEW topic_counts_recount AS
SELECT market, channel, day, topic, measure,
    count(*) FILTER (WHERE score = 0) AS s0, count(*) FILTER (WHERE score = 1) AS s1,
    count(*) FILTER (WHERE score = 2) AS s2, count(*) FILTER (WHERE score = 3) AS s3,
    count(*) FILTER (WHERE score = 4) AS s4, count(*) FILTER (WHERE score = 5) AS s5,
    count(*) FILTER (WHERE score = 6) AS s6, count(*) FILTER (WHERE score = 7) AS s7,
    count(*) FILTER (WHERE score = 8) AS s8, count(*) FILTER (WHERE score = 9) AS s9,
    count(*) FILTER (WHERE score = 10) AS s10
FROM (UNPIVOT (SELECT market, channel, occurred_at::DATE AS day,
                      unnest(list_prepend('*', list_distinct(topics))) AS topic,
                      0::UTINYINT AS commented, nps, csat, ces, stars
               FROM records WHERE topics IS NOT NULL)
      ON commented, nps, csat, ces, stars INTO NAME measure VALUE score)
GROUP BY market, channel, day, topic, measure;

INSERT INTO score_counts SELECT * FROM score_counts_recount;
INSERT INTO topic_counts SELECT * FROM topic_counts_recount;
