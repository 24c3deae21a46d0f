-- Version 4: the detail of the per-minute totals of version 2 (docs/operations.md, "Monitoring
-- data"): one row per API, stage, minute and node like `api_minutes`, `doc` the JSON of the
-- answers by status and by gateway error code and the latency histogram. A table of its own
-- rather than a column of `api_minutes`: SQLite has no ADD COLUMN IF NOT EXISTS, and this way
-- the migration is idempotent like the others. Pruned with `api_minutes`.
CREATE TABLE IF NOT EXISTS api_minute_details (
    api_id TEXT NOT NULL, minute BIGINT NOT NULL, stage TEXT NOT NULL, node TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (api_id, minute, stage, node));
CREATE INDEX IF NOT EXISTS api_minute_details_minute ON api_minute_details (minute);
