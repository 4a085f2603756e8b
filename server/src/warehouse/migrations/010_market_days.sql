-- Chorus warehouse, schema version 10: each market counts days in its own calendar.
--
-- Until now a record's day was the UTC date of occurred_at, in the cubes and in every date
-- filter. A record now carries its day: the calendar day of occurred_at in its market's
-- configured time zone (market_days.rs), computed where it is stored.
--
-- Assumption: every existing record and cube row was counted in UTC, the only calendar
-- before this version, so the days below are the UTC dates and market_zones says so. At the
-- next start, a market whose configured zone differs from the one recorded here has its days
-- recomputed and its cube counts moved to them in one transaction (Warehouse::use_market_zones),
-- which also ships the change to headquarters on a regional node.
ALTER TABLE records ADD COLUMN day DATE;
UPDATE records SET day = occurred_at::DATE;
ALTER TABLE records ALTER COLUMN day SET NOT NULL;

-- The zone each market's stored days were computed in; a market without a row: UTC.
CREATE TABLE market_zones (
    market VARCHAR PRIMARY KEY,
    zone   VARCHAR NOT NULL
);

-- What `chorus verify` recounts the cubes from: the stored days.
CREATE OR REPLACE VIEW score_counts_recount AS
SELECT market, channel, day, measure,
    count(*) FILTER (WHERE score = 0) AS s0, count(*) FILTER (WHERE score = 1) AS s1,
    count(*) FILTER (WHERE score = 2) AS s2, count(*) FILTER (WHERE score = 3) AS s3,
    count(*) FILTER (WHERE score = 4) AS s4, count(*) FILTER (WHERE score = 5) AS s5,
    count(*) FILTER (WHERE score = 6) AS s6, count(*) FILTER (WHERE score = 7) AS s7,
    count(*) FILTER (WHERE score = 8) AS s8, count(*) FILTER (WHERE score = 9) AS s9,
    count(*) FILTER (WHERE score = 10) AS s10
FROM (UNPIVOT (SELECT market, channel, day, nps, csat, ces, stars
               FROM records)
      ON nps, csat, ces, stars INTO NAME measure VALUE score)
GROUP BY market, channel, day, measure;

CREATE OR REPLACE VIEW topic_counts_recount AS
SELECT market, channel, day, topic, measure,
    count(*) FILTER (WHERE score = 0) AS s0, count(*) FILTER (WHERE score = 1) AS s1,
    count(*) FILTER (WHERE score = 2) AS s2, count(*) FILTER (WHERE score = 3) AS s3,
    count(*) FILTER (WHERE score = 4) AS s4, count(*) FILTER (WHERE score = 5) AS s5,
    count(*) FILTER (WHERE score = 6) AS s6, count(*) FILTER (WHERE score = 7) AS s7,
    count(*) FILTER (WHERE score = 8) AS s8, count(*) FILTER (WHERE score = 9) AS s9,
    count(*) FILTER (WHERE score = 10) AS s10
FROM (UNPIVOT (SELECT market, channel, day,
                      unnest(list_prepend('*', list_distinct(topics))) AS topic,
                      0::UTINYINT AS commented, nps, csat, ces, stars
               FROM records WHERE topics IS NOT NULL)
      ON commented, nps, csat, ces, stars INTO NAME measure VALUE score)
GROUP BY market, channel, day, topic, measure;
