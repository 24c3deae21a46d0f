-- Version 2: VPC accesses, backend services (with their per-stage models in the document)
-- and stage variables.
CREATE TABLE vpc_accesses (vpc_access_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE backends (backend_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE stage_variables (
    group_id TEXT NOT NULL, stage TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (group_id, stage, name));
