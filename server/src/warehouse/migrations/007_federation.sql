-- Chorus warehouse, schema version 7: federation (regional nodes feed headquarters).

-- Regional node: every committed change, as the message(s) that ship it, written in the
-- change's own transaction. The publisher deletes a message once JetStream acknowledged it.
CREATE TABLE federation_outbox (
    seq        BIGINT    PRIMARY KEY,  -- 1, 2, …: the message id is <node>:<seq>
    created_at TIMESTAMP NOT NULL,
    payload    BLOB      NOT NULL      -- federation::message::Change, deflated JSON
);

-- Regional node: the last sequence JetStream acknowledged. Its row also says that the
-- node's snapshot (its cubes when it joined) is in the outbox. `origin` is drawn once per
-- warehouse file and travels in every message: headquarters recognises a node whose
-- warehouse was re-created (its sequence starts again at 1) instead of taking its messages
-- for redeliveries.
CREATE TABLE federation_published (
    node       VARCHAR   PRIMARY KEY,
    last_seq   BIGINT    NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    origin     VARCHAR   NOT NULL
);

-- Headquarters: per regional node, the last sequence applied (in the same transaction as
-- its effect, so a redelivered message is recognised), and why applying stopped, if it did.
CREATE TABLE federation_nodes (
    node          VARCHAR   PRIMARY KEY,
    last_seq      BIGINT    NOT NULL,
    applied_at    TIMESTAMP NOT NULL,  -- when headquarters applied the last one
    committed_at  TIMESTAMP NOT NULL,  -- when the region committed it
    waiting_for   BIGINT,              -- a later sequence arrived first: this one is missing
    waiting_since TIMESTAMP,
    refused       VARCHAR,             -- the message waiting_for was refused, and why
    origin        VARCHAR              -- the node's warehouse, from its first applied message
);

-- Headquarters: the last change applied per market (`as_of` in the answers).
CREATE TABLE federation_markets (
    market VARCHAR   PRIMARY KEY,
    node   VARCHAR   NOT NULL,
    as_of  TIMESTAMP NOT NULL
);
