-- Version 2: VPC accesses, backend services (with their per-stage models in the document)
-- and stage variables; keys compared byte-wise as in version 1.
CREATE TABLE vpc_accesses (vpc_access_id TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE backends (backend_id TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE stage_variables (
    group_id TEXT COLLATE "C" NOT NULL, stage TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (group_id, stage, name));
