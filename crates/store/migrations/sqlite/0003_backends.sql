-- Version 3: VPC accesses, backend services (with their per-stage models in the document)
-- and stage variables.
CREATE TABLE IF NOT EXISTS vpc_accesses (vpc_access_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS backends (backend_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stage_variables (
    group_id TEXT NOT NULL, stage TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (group_id, stage, name));
