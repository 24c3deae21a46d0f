-- Version 1: the schema of apigw before versioned migrations. Every statement is
-- idempotent, so a data directory made before schemas had a version (user_version 0) is
-- recognised as version 1 and left as it is.
CREATE TABLE IF NOT EXISTS generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO generation (id, value) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS groups (group_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS domains (domain_name TEXT PRIMARY KEY, group_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apis (api_id TEXT PRIMARY KEY, group_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS apis_group ON apis (group_id);
CREATE TABLE IF NOT EXISTS deployments (
    api_id TEXT NOT NULL, stage TEXT NOT NULL, version TEXT NOT NULL, group_id TEXT NOT NULL,
    online INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (api_id, stage, version));
CREATE INDEX IF NOT EXISTS deployments_online ON deployments (online) WHERE online = 1;
CREATE INDEX IF NOT EXISTS deployments_online_keys ON deployments (api_id, stage, version) WHERE online = 1;
CREATE TABLE IF NOT EXISTS apps (app_id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS authorizations (
    app_id INTEGER NOT NULL, api_id TEXT NOT NULL, stage TEXT NOT NULL, group_id TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (app_id, api_id, stage));
CREATE INDEX IF NOT EXISTS authorizations_api ON authorizations (api_id);
CREATE TABLE IF NOT EXISTS plugins (plugin_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plugin_bindings (
    plugin_id TEXT NOT NULL, api_id TEXT NOT NULL, stage TEXT NOT NULL, group_id TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (plugin_id, api_id, stage));
CREATE INDEX IF NOT EXISTS plugin_bindings_api ON plugin_bindings (api_id);
CREATE TABLE IF NOT EXISTS access_keys (access_key_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
