-- Chorus warehouse, schema version 6: cases, the work a case rule (cases/rules.rs) opens when a
-- stored record shows an unhappy customer; and the webhook outbox that tells other systems.

CREATE SEQUENCE case_ids START 1;

-- One case per record, opened in the transaction that stores the record, so a re-run, a
-- duplicate delivery or a crash never opens a second one. The record itself stays in
-- `records`; a case shows its redacted text and, with consent, its contact attributes.
CREATE TABLE cases (
    id               BIGINT    PRIMARY KEY DEFAULT nextval('case_ids'),
    source_instance  VARCHAR   NOT NULL,
    external_id      VARCHAR   NOT NULL,
    rule             VARCHAR   NOT NULL,
    market           VARCHAR   NOT NULL,
    channel          VARCHAR   NOT NULL,
    status           VARCHAR   NOT NULL,   -- open | in_progress | resolved | closed | reopened
    assignee         VARCHAR   NOT NULL,   -- a token subject
    escalation       VARCHAR[] NOT NULL,   -- who an overdue case goes to next, in order (never updated)
    escalation_level INTEGER   NOT NULL,   -- how many of them it has gone to
    sla_seconds      BIGINT    NOT NULL,
    opened_at        TIMESTAMP NOT NULL,
    due_at           TIMESTAMP NOT NULL,
    resolved_at      TIMESTAMP,
    resolution_code  VARCHAR,
    resolution_note  VARCHAR,
    updated_at       TIMESTAMP NOT NULL,
    overdue_notified_due_at TIMESTAMP,   -- the missed due time case.overdue was sent for
    UNIQUE (source_instance, external_id)
);

-- Everything that happened to a case, with its time: the basis of time-between-status figures.
CREATE TABLE case_events (
    case_id     BIGINT    NOT NULL,
    happened_at TIMESTAMP NOT NULL,
    actor       VARCHAR   NOT NULL,   -- token subject, or `chorus` for rules and escalation
    kind        VARCHAR   NOT NULL,   -- opened | status | assigned | note | escalated | closed
    from_status VARCHAR,
    to_status   VARCHAR,
    assignee    VARCHAR,
    note        VARCHAR
);

-- Where a batch's new cases wait for the set-based insert into `cases` (emptied after each).
CREATE TABLE case_staging (
    source_instance VARCHAR,
    external_id     VARCHAR,
    rule            VARCHAR,
    market          VARCHAR,
    channel         VARCHAR,
    assignee        VARCHAR,
    escalation      VARCHAR,   -- JSON list
    sla_seconds     BIGINT,
    opened_at       TIMESTAMP,
    due_at          TIMESTAMP
);

-- Webhook outbox (server/specs/standard-webhooks.md). An event is written in the transaction
-- that causes it, with one delivery per subscribed endpoint, so nothing is announced that did
-- not happen and nothing that happened goes unannounced; the deliverer sends and retries.
CREATE TABLE webhook_events (
    message_id VARCHAR   PRIMARY KEY,   -- webhook-id: msg_ + 32 hex digits
    type       VARCHAR   NOT NULL,      -- case.created | case.overdue | case.resolved | alert.created
    payload    VARCHAR   NOT NULL,      -- the JSON body, exactly as signed and sent
    created_at TIMESTAMP NOT NULL
);

-- Which configured endpoint wants which event type; replaced from the config at startup.
CREATE TABLE webhook_subscriptions (
    endpoint   VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL
);

CREATE TABLE webhook_deliveries (
    message_id      VARCHAR   NOT NULL,
    endpoint        VARCHAR   NOT NULL,
    attempts        INTEGER   NOT NULL,
    next_attempt_at TIMESTAMP,          -- NULL once delivered or dead
    delivered_at    TIMESTAMP,
    dead_at         TIMESTAMP,          -- retries exhausted (or 410 Gone): a dead letter
    last_status     INTEGER,
    last_error      VARCHAR,
    PRIMARY KEY (message_id, endpoint)
);

CREATE SEQUENCE alert_ids START 1;

-- Significant changes found by the alert job (analysis/alerts.rs): one per market, channel,
-- subject and period, however often the job runs; written with its alert.created event.
CREATE TABLE alerts (
    id             BIGINT    PRIMARY KEY DEFAULT nextval('alert_ids'),
    market         VARCHAR   NOT NULL,
    channel        VARCHAR   NOT NULL,
    kind           VARCHAR   NOT NULL,   -- score | topic
    subject        VARCHAR   NOT NULL,   -- a measure (nps, csat, ces, stars) or a topic id
    period         VARCHAR   NOT NULL,   -- week | month
    period_label   VARCHAR   NOT NULL,   -- 2026-W47 | 2026-10
    period_start   DATE      NOT NULL,
    period_end     DATE      NOT NULL,
    direction      VARCHAR   NOT NULL,   -- drop | rise
    value          DOUBLE    NOT NULL,
    baseline_value DOUBLE    NOT NULL,
    n              BIGINT    NOT NULL,
    baseline_n     BIGINT    NOT NULL,
    p_value        DOUBLE    NOT NULL,
    p_adjusted     DOUBLE    NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    UNIQUE (market, channel, kind, subject, period_label)
);
