-- Chorus warehouse, schema version 3: a place for records that earlier versions stored but
-- that break today's rules (a date outside the accepted range). `chorus verify --quarantine`
-- moves them here: kept, with the reason, and out of every figure and listing.
CREATE TABLE quarantined_records AS
    SELECT *, NULL::VARCHAR AS reason, NULL::TIMESTAMP AS quarantined_at FROM records LIMIT 0;
