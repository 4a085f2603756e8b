-- Chorus warehouse, schema version 9: erased data leaves the file's bytes.
--
-- DuckDB frees the blocks of deleted rows without overwriting them, so an erased comment
-- stays readable in the raw file until the space is reused. Every transaction that deletes
-- personal data (an erasure, headquarters deleting a replicated record) adds a row here; a
-- file with rows is rewritten without its free blocks (warehouse/rewrite.rs) at the next
-- clean stop or open, or by `chorus compact`. The rewritten file starts with none.
CREATE TABLE pending_rewrite (
    since  TIMESTAMP NOT NULL,
    reason VARCHAR   NOT NULL   -- erasure | replica_deleted
);

-- Headquarters: which JetStream message (stream sequence) carried each replicated record, so
-- that erasing the record also erases from the stream the messages that carried its text.
CREATE TABLE replica_carriers (
    source_instance VARCHAR NOT NULL,
    external_id     VARCHAR NOT NULL,
    stream_seq      BIGINT  NOT NULL
);

-- Headquarters: stream messages to erase from JetStream (NATS overwrites an erased message),
-- written with the erasure that makes them obsolete and removed once JetStream confirmed.
CREATE TABLE stream_erasures (
    stream_seq BIGINT PRIMARY KEY
);
