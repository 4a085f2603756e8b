-- Chorus warehouse, schema version 11: the key-driver model's inputs as counts.
--
-- /api/v1/drivers models a score on the topics a comment mentions, from commented records
-- collapsed to (market, channel, score, topics mentioned). Headquarters holds no records of a
-- regional market, so the regions ship those collapsed counts like the other cubes: one row
-- per market, channel, day, measure and *set* of topics (sorted, '|'-joined; '' for a comment
-- without a known topic), with the responses per score in s0..s10. Kept in the same
-- transaction as every change to records (cubes.rs), signed delta rows like the other cubes.
-- Never text, never an attribute: numeric driver answers stay in the region.
CREATE TABLE driver_counts (
    market    VARCHAR NOT NULL,
    channel   VARCHAR NOT NULL,
    day       DATE    NOT NULL,
    topic_set VARCHAR NOT NULL,
    measure   VARCHAR NOT NULL,   -- nps | csat (the measures /drivers models)
    s0 BIGINT NOT NULL, s1 BIGINT NOT NULL, s2 BIGINT NOT NULL, s3 BIGINT NOT NULL,
    s4 BIGINT NOT NULL, s5 BIGINT NOT NULL, s6 BIGINT NOT NULL, s7 BIGINT NOT NULL,
    s8 BIGINT NOT NULL, s9 BIGINT NOT NULL, s10 BIGINT NOT NULL
);

CREATE VIEW driver_counts_recount AS
SELECT market, channel, day, topic_set, measure,
    count(*) FILTER (WHERE score = 0) AS s0, count(*) FILTER (WHERE score = 1) AS s1,
    count(*) FILTER (WHERE score = 2) AS s2, count(*) FILTER (WHERE score = 3) AS s3,
    count(*) FILTER (WHERE score = 4) AS s4, count(*) FILTER (WHERE score = 5) AS s5,
    count(*) FILTER (WHERE score = 6) AS s6, count(*) FILTER (WHERE score = 7) AS s7,
    count(*) FILTER (WHERE score = 8) AS s8, count(*) FILTER (WHERE score = 9) AS s9,
    count(*) FILTER (WHERE score = 10) AS s10
FROM (UNPIVOT (SELECT market, channel, day,
                      coalesce(array_to_string(list_sort(list_distinct(topics)), '|'), '')
                          AS topic_set,
                      nps, csat
               FROM records WHERE topics IS NOT NULL)
      ON nps, csat INTO NAME measure VALUE score)
GROUP BY market, channel, day, topic_set, measure;

INSERT INTO driver_counts SELECT * FROM driver_counts_recount;
