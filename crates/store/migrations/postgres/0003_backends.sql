-- Version 3: VPC accesses, backend services (with their per-stage models in the document)
-- and stage variables; keys compared byte-wise as in version 1.
CREATE TABLE IF NOT EXISTS vpc_accesses (vpc_access_id TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS backends (backend_id TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stage_variables (
    group_id TEXT COLLATE "C" NOT NULL, stage TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (group_id, stage, name));
