-- Version 1: the same tables as SQLite's version 1. Keys are compared and sorted byte-wise
-- (COLLATE "C", as SQLite does), whatever the database's locale: the store relies on the
-- order of online deployments, and exports come out in the same order on both stores.
-- Documents are the model's JSON as text, exactly as written.
CREATE TABLE generation (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
INSERT INTO generation (id, value) VALUES (1, 0);
CREATE TABLE groups (group_id TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE domains (domain_name TEXT COLLATE "C" PRIMARY KEY, group_id TEXT COLLATE "C" NOT NULL, doc TEXT NOT NULL);
CREATE TABLE apis (api_id TEXT COLLATE "C" PRIMARY KEY, group_id TEXT COLLATE "C" NOT NULL, doc TEXT NOT NULL);
CREATE INDEX apis_group ON apis (group_id);
CREATE TABLE deployments (
    api_id TEXT COLLATE "C" NOT NULL, stage TEXT COLLATE "C" NOT NULL, version TEXT COLLATE "C" NOT NULL,
    group_id TEXT COLLATE "C" NOT NULL, online INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (api_id, stage, version));
CREATE INDEX deployments_online_keys ON deployments (api_id, stage, version) WHERE online = 1;
CREATE INDEX deployments_group ON deployments (group_id);
CREATE TABLE apps (app_id BIGINT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE authorizations (
    app_id BIGINT NOT NULL, api_id TEXT COLLATE "C" NOT NULL, stage TEXT COLLATE "C" NOT NULL,
    group_id TEXT COLLATE "C" NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (app_id, api_id, stage));
CREATE INDEX authorizations_api ON authorizations (api_id);
CREATE INDEX authorizations_group ON authorizations (group_id);
CREATE TABLE plugins (plugin_id TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE plugin_bindings (
    plugin_id TEXT COLLATE "C" NOT NULL, api_id TEXT COLLATE "C" NOT NULL, stage TEXT COLLATE "C" NOT NULL,
    group_id TEXT COLLATE "C" NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (plugin_id, api_id, stage));
CREATE INDEX plugin_bindings_api ON plugin_bindings (api_id);
CREATE INDEX plugin_bindings_group ON plugin_bindings (group_id);
CREATE TABLE access_keys (access_key_id TEXT COLLATE "C" PRIMARY KEY, doc TEXT NOT NULL);
