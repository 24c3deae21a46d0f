-- Version 2: the monitoring actions' per-minute totals of each API and stage, one row a node
-- and minute (docs/operations.md, "Monitoring data"). Not configuration: writing them never
-- bumps the generation. Rows older than 24 hours are deleted by the nodes. Idempotent, like
-- version 1 (a test makes an unversioned directory by resetting user_version).
CREATE TABLE IF NOT EXISTS api_minutes (
    api_id TEXT NOT NULL, minute BIGINT NOT NULL, stage TEXT NOT NULL, node TEXT NOT NULL,
    successes BIGINT NOT NULL, client_errors BIGINT NOT NULL, server_errors BIGINT NOT NULL,
    latency_us BIGINT NOT NULL, request_bytes BIGINT NOT NULL, response_bytes BIGINT NOT NULL,
    PRIMARY KEY (api_id, minute, stage, node));
CREATE INDEX IF NOT EXISTS api_minutes_minute ON api_minutes (minute);
