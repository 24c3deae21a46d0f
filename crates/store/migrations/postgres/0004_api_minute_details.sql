-- Version 4: the same table as SQLite's version 4: the detail of the per-minute totals of
-- version 2 (docs/operations.md, "Monitoring data"), one row per API, stage, minute and node,
-- `doc` the JSON of the answers by status and by gateway error code and the latency
-- histogram. Pruned with `api_minutes`.
CREATE TABLE IF NOT EXISTS api_minute_details (
    api_id TEXT COLLATE "C" NOT NULL, minute BIGINT NOT NULL, stage TEXT COLLATE "C" NOT NULL,
    node TEXT COLLATE "C" NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (api_id, minute, stage, node));
CREATE INDEX IF NOT EXISTS api_minute_details_minute ON api_minute_details (minute);
