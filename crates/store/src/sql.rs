//! What both stores share: the SQL of every read and write (one text for SQLite and
//! PostgreSQL; placeholders are written `$1`, `$2`, … and SQLite runs them as `?1`, `?2`, …),
//! the documents' (de)serialisation with their secret fields sealed and opened, and turning
//! rows into [`LiveConfig`].
//!
//! A write ([`Write`]) is planned here as a list of statements; each store only runs them in
//! its own transaction, so a write has one meaning whichever store holds the data. Secrets are
//! sealed here too ([`sealed_doc`], [`from_sealed_docs`], [`live`], [`reseal`]): both stores
//! keep them in the same form, and neither has code of its own for them.

use crate::secrets::{Reseal, Resealed, SecretBox, SecretFields, Secrets};
use crate::{LiveConfig, Result, StoreError, Write};
use apigw_model::{AccessKey, App, Deployment, Domain, Plugin};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// A statement parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(s.to_string())
    }
}

impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg::Text(s.clone())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(s)
    }
}

impl From<i64> for Arg {
    fn from(i: i64) -> Arg {
        Arg::Int(i)
    }
}

/// One statement with its parameters.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub sql: &'static str,
    pub args: Vec<Arg>,
}

/// What a write answers (see [`plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Always true (puts).
    Done,
    /// True when the last statement changed a row (deletes, abolish, switch).
    LastChanged,
}

/// The statements of one write, run in order in the batch's transaction, and how to tell
/// whether it changed something: a delete that found something, an abolish of an online
/// deployment, a switch to an existing version; puts are always true. Secret fields are
/// sealed with `secrets` ([`sealed_doc`]).
pub(crate) fn plan(w: &Write, secrets: &SecretBox) -> Result<(Vec<Step>, Answer)> {
    use Answer::*;
    let step = |sql, args: Vec<Arg>| Step { sql, args };
    Ok(match w {
        Write::PutGroup(g) => (
            vec![step(
                "INSERT INTO groups (group_id, doc) VALUES ($1, $2) ON CONFLICT (group_id) DO UPDATE SET doc = $2",
                vec![(&g.group_id).into(), to_doc(g)?.into()],
            )],
            Done,
        ),
        Write::DeleteGroup(id) => (
            [
                "DELETE FROM stage_variables WHERE group_id = $1",
                "DELETE FROM authorizations WHERE group_id = $1",
                "DELETE FROM plugin_bindings WHERE group_id = $1",
                "DELETE FROM deployments WHERE group_id = $1",
                "DELETE FROM apis WHERE group_id = $1",
                "DELETE FROM domains WHERE group_id = $1",
                "DELETE FROM groups WHERE group_id = $1",
            ]
            .into_iter()
            .map(|sql| step(sql, vec![id.into()]))
            .collect(),
            LastChanged,
        ),
        Write::PutDomain(d) => (
            vec![step(
                "INSERT INTO domains (domain_name, group_id, doc) VALUES ($1, $2, $3)
                 ON CONFLICT (domain_name) DO UPDATE SET group_id = $2, doc = $3",
                vec![
                    (&d.domain_name).into(),
                    (&d.group_id).into(),
                    sealed_doc(secrets, d)?.into(),
                ],
            )],
            Done,
        ),
        Write::DeleteDomain(name) => (
            vec![step(
                "DELETE FROM domains WHERE domain_name = $1",
                vec![name.into()],
            )],
            LastChanged,
        ),
        Write::PutApi(a) => (
            vec![step(
                "INSERT INTO apis (api_id, group_id, doc) VALUES ($1, $2, $3)
                 ON CONFLICT (api_id) DO UPDATE SET group_id = $2, doc = $3",
                vec![(&a.api_id).into(), (&a.group_id).into(), to_doc(a)?.into()],
            )],
            Done,
        ),
        Write::DeleteApi(id) => (
            [
                "DELETE FROM deployments WHERE api_id = $1",
                "DELETE FROM authorizations WHERE api_id = $1",
                "DELETE FROM plugin_bindings WHERE api_id = $1",
                "DELETE FROM apis WHERE api_id = $1",
            ]
            .into_iter()
            .map(|sql| step(sql, vec![id.into()]))
            .collect(),
            LastChanged,
        ),
        Write::Deploy(d) => {
            let stage = d.stage_name.as_str();
            (
                vec![
                    step(
                        "UPDATE deployments SET online = 0 WHERE api_id = $1 AND stage = $2 AND online = 1",
                        vec![(&d.api_id).into(), stage.into()],
                    ),
                    step(
                        "INSERT INTO deployments (api_id, stage, version, group_id, online, doc) VALUES ($1, $2, $3, $4, 1, $5)
                         ON CONFLICT (api_id, stage, version) DO UPDATE SET online = 1, doc = $5",
                        vec![
                            (&d.api_id).into(),
                            stage.into(),
                            (&d.history_version).into(),
                            (&d.group_id).into(),
                            to_doc(d)?.into(),
                        ],
                    ),
                ],
                Done,
            )
        }
        Write::Abolish { api_id, stage } => (
            vec![step(
                "UPDATE deployments SET online = 0 WHERE api_id = $1 AND stage = $2 AND online = 1",
                vec![api_id.into(), stage.as_str().into()],
            )],
            LastChanged,
        ),
        // Changes nothing (and answers false) when there is no such version.
        Write::SwitchVersion {
            api_id,
            stage,
            version,
        } => (
            vec![step(
                "UPDATE deployments SET online = CASE WHEN version = $3 THEN 1 ELSE 0 END
                 WHERE api_id = $1 AND stage = $2
                   AND EXISTS (SELECT 1 FROM deployments WHERE api_id = $1 AND stage = $2 AND version = $3)",
                vec![api_id.into(), stage.as_str().into(), version.into()],
            )],
            LastChanged,
        ),
        Write::PutApp(a) => (
            vec![step(
                "INSERT INTO apps (app_id, doc) VALUES ($1, $2) ON CONFLICT (app_id) DO UPDATE SET doc = $2",
                vec![a.app_id.into(), sealed_doc(secrets, a)?.into()],
            )],
            Done,
        ),
        Write::DeleteApp(id) => (
            vec![
                step(
                    "DELETE FROM authorizations WHERE app_id = $1",
                    vec![(*id).into()],
                ),
                step("DELETE FROM apps WHERE app_id = $1", vec![(*id).into()]),
            ],
            LastChanged,
        ),
        Write::PutAuthorization(g) => (
            vec![step(
                "INSERT INTO authorizations (app_id, api_id, stage, group_id, doc) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (app_id, api_id, stage) DO UPDATE SET group_id = $4, doc = $5",
                vec![
                    g.app_id.into(),
                    (&g.api_id).into(),
                    g.stage_name.as_str().into(),
                    (&g.group_id).into(),
                    to_doc(g)?.into(),
                ],
            )],
            Done,
        ),
        Write::DeleteAuthorization {
            app_id,
            api_id,
            stage,
        } => (
            vec![step(
                "DELETE FROM authorizations WHERE app_id = $1 AND api_id = $2 AND stage = $3",
                vec![(*app_id).into(), api_id.into(), stage.as_str().into()],
            )],
            LastChanged,
        ),
        Write::PutPlugin(p) => (
            vec![step(
                "INSERT INTO plugins (plugin_id, doc) VALUES ($1, $2) ON CONFLICT (plugin_id) DO UPDATE SET doc = $2",
                vec![(&p.plugin_id).into(), sealed_doc(secrets, p)?.into()],
            )],
            Done,
        ),
        Write::DeletePlugin(id) => (
            vec![
                step(
                    "DELETE FROM plugin_bindings WHERE plugin_id = $1",
                    vec![id.into()],
                ),
                step("DELETE FROM plugins WHERE plugin_id = $1", vec![id.into()]),
            ],
            LastChanged,
        ),
        Write::BindPlugin {
            binding: b,
            replaces,
        } => {
            let stage = b.stage_name.as_str();
            let mut steps: Vec<Step> = replaces
                .iter()
                .map(|old| step(UNBIND, vec![old.into(), (&b.api_id).into(), stage.into()]))
                .collect();
            steps.push(step(
                "INSERT INTO plugin_bindings (plugin_id, api_id, stage, group_id, doc) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (plugin_id, api_id, stage) DO UPDATE SET group_id = $4, doc = $5",
                vec![
                    (&b.plugin_id).into(),
                    (&b.api_id).into(),
                    stage.into(),
                    (&b.group_id).into(),
                    to_doc(b)?.into(),
                ],
            ));
            (steps, Done)
        }
        Write::UnbindPlugin {
            plugin_id,
            api_id,
            stage,
        } => (
            vec![step(
                UNBIND,
                vec![plugin_id.into(), api_id.into(), stage.as_str().into()],
            )],
            LastChanged,
        ),
        Write::PutAccessKey(k) => (
            vec![step(
                "INSERT INTO access_keys (access_key_id, doc) VALUES ($1, $2)
                 ON CONFLICT (access_key_id) DO UPDATE SET doc = $2",
                vec![(&k.access_key_id).into(), sealed_doc(secrets, k)?.into()],
            )],
            Done,
        ),
        Write::PutVpcAccess(a) => (
            vec![step(
                "INSERT INTO vpc_accesses (vpc_access_id, doc) VALUES ($1, $2)
                 ON CONFLICT (vpc_access_id) DO UPDATE SET doc = $2",
                vec![(&a.vpc_access_id).into(), to_doc(a)?.into()],
            )],
            Done,
        ),
        Write::DeleteVpcAccess(id) => (
            vec![step(
                "DELETE FROM vpc_accesses WHERE vpc_access_id = $1",
                vec![id.into()],
            )],
            LastChanged,
        ),
        Write::PutBackend(b) => (
            vec![step(
                "INSERT INTO backends (backend_id, doc) VALUES ($1, $2)
                 ON CONFLICT (backend_id) DO UPDATE SET doc = $2",
                vec![(&b.backend_id).into(), to_doc(b)?.into()],
            )],
            Done,
        ),
        Write::DeleteBackend(id) => (
            vec![step(
                "DELETE FROM backends WHERE backend_id = $1",
                vec![id.into()],
            )],
            LastChanged,
        ),
        Write::PutStageVariable(v) => (
            vec![step(
                "INSERT INTO stage_variables (group_id, stage, name, doc) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (group_id, stage, name) DO UPDATE SET doc = $4",
                vec![
                    (&v.group_id).into(),
                    v.stage_name.as_str().into(),
                    (&v.variable_name).into(),
                    to_doc(v)?.into(),
                ],
            )],
            Done,
        ),
        Write::DeleteStageVariable {
            group_id,
            stage,
            name,
        } => (
            vec![step(
                "DELETE FROM stage_variables WHERE group_id = $1 AND stage = $2 AND name = $3",
                vec![group_id.into(), stage.as_str().into(), name.into()],
            )],
            LastChanged,
        ),
    })
}

const UNBIND: &str =
    "DELETE FROM plugin_bindings WHERE plugin_id = $1 AND api_id = $2 AND stage = $3";

/// The plans of `batch` ([`plan`]): made before a store opens its transaction, so that
/// sealing secrets does not hold it.
pub(crate) fn plans(batch: &[Write], secrets: &SecretBox) -> Result<Vec<(Vec<Step>, Answer)>> {
    batch.iter().map(|w| plan(w, secrets)).collect()
}

/// Runs `plans` through `run` (which executes one statement and answers how many rows it
/// changed): the answer of each write.
pub(crate) fn run_plans(
    plans: &[(Vec<Step>, Answer)],
    mut run: impl FnMut(&Step) -> Result<u64>,
) -> Result<Vec<bool>> {
    plans
        .iter()
        .map(|(steps, answer)| {
            let mut last = 0;
            for s in steps {
                last = run(s)?;
            }
            Ok(*answer == Answer::Done || last > 0)
        })
        .collect()
}

pub(crate) const GENERATION: &str = "SELECT value FROM generation WHERE id = 1";
pub(crate) const BUMP_GENERATION: &str = "UPDATE generation SET value = value + 1 WHERE id = 1";

/// The documents of [`LiveConfig`] apart from deployments, in the order [`live`] takes them.
pub(crate) const LIVE_DOCS: [&str; 9] = [
    "SELECT doc FROM groups ORDER BY group_id",
    "SELECT doc FROM domains ORDER BY domain_name",
    "SELECT doc FROM apps ORDER BY app_id",
    "SELECT doc FROM authorizations ORDER BY app_id, api_id, stage",
    "SELECT doc FROM plugins ORDER BY plugin_id",
    "SELECT doc FROM plugin_bindings ORDER BY api_id, stage, plugin_id",
    "SELECT doc FROM vpc_accesses ORDER BY vpc_access_id",
    "SELECT doc FROM backends ORDER BY backend_id",
    "SELECT doc FROM stage_variables ORDER BY group_id, stage, name",
];
pub(crate) const GROUPS: &str = LIVE_DOCS[0];
pub(crate) const DOMAINS: &str = LIVE_DOCS[1];
pub(crate) const APPS: &str = LIVE_DOCS[2];
pub(crate) const AUTHORIZATIONS: &str = LIVE_DOCS[3];
pub(crate) const PLUGINS: &str = LIVE_DOCS[4];
pub(crate) const PLUGIN_BINDINGS: &str = LIVE_DOCS[5];
pub(crate) const VPC_ACCESSES: &str = LIVE_DOCS[6];
pub(crate) const BACKENDS: &str = LIVE_DOCS[7];
pub(crate) const STAGE_VARIABLES: &str = LIVE_DOCS[8];
pub(crate) const ALL_APIS: &str = "SELECT doc FROM apis ORDER BY group_id, api_id";
pub(crate) const GROUP: &str = "SELECT doc FROM groups WHERE group_id = $1";
pub(crate) const API: &str = "SELECT doc FROM apis WHERE api_id = $1";
pub(crate) const GROUP_APIS: &str = "SELECT doc FROM apis WHERE group_id = $1 ORDER BY api_id";
pub(crate) const APP: &str = "SELECT doc FROM apps WHERE app_id = $1";
pub(crate) const ACCESS_KEYS: &str = "SELECT doc FROM access_keys ORDER BY access_key_id";
/// Deployment rows are (doc, online).
pub(crate) const HISTORY_STAGE: &str =
    "SELECT doc, online FROM deployments WHERE api_id = $1 AND stage = $2 ORDER BY version DESC";
pub(crate) const HISTORY: &str =
    "SELECT doc, online FROM deployments WHERE api_id = $1 ORDER BY version DESC, stage";
pub(crate) const LATEST_VERSION: &str =
    "SELECT MAX(version) FROM deployments WHERE api_id = $1 AND stage = $2";
pub(crate) const LATEST_VERSIONS: &str = "SELECT api_id, stage, MAX(version) FROM deployments GROUP BY api_id, stage ORDER BY api_id, stage";
/// The keys of the online deployments in the order [`crate::online::Merge`] needs them.
pub(crate) const ONLINE_KEYS: &str =
    "SELECT api_id, stage, version FROM deployments WHERE online = 1 ORDER BY api_id, stage";
pub(crate) const DEPLOYMENT_DOC: &str =
    "SELECT doc FROM deployments WHERE api_id = $1 AND stage = $2 AND version = $3";

/// [`LiveConfig`] from the generation, the rows of [`LIVE_DOCS`] (in that order) and the
/// online deployments, with every secret field opened. A reload opens only the sealed values
/// the previous load of this store did not (see [`Secrets`]).
pub(crate) fn live(
    generation: u64,
    docs: [Vec<String>; 9],
    deployments: Vec<Arc<Deployment>>,
    secrets: &Secrets,
) -> Result<LiveConfig> {
    let [groups, domains, apps, authorizations, plugins, plugin_bindings, vpc_accesses, backends, stage_variables] =
        docs;
    let mut opener = secrets.opener();
    let domains = opened_docs(&domains, &mut opener)?;
    let apps = opened_docs(&apps, &mut opener)?;
    let plugins = opened_docs(&plugins, &mut opener)?;
    opener.finish();
    Ok(LiveConfig {
        generation,
        groups: from_docs(&groups)?,
        domains,
        deployments,
        apps,
        authorizations: from_docs(&authorizations)?,
        plugins,
        plugin_bindings: from_docs(&plugin_bindings)?,
        vpc_accesses: from_docs(&vpc_accesses)?,
        backends: from_docs(&backends)?,
        stage_variables: from_docs(&stage_variables)?,
    })
}

fn opened_docs<T: DeserializeOwned + SecretFields>(
    rows: &[String],
    opener: &mut crate::secrets::Opener<'_>,
) -> Result<Vec<T>> {
    let mut docs: Vec<T> = from_docs(rows)?;
    for d in &mut docs {
        opener.open(d)?;
    }
    Ok(docs)
}

/// The newest version rows `(api, stage, version)` with their stage parsed.
pub(crate) fn latest_versions(
    rows: Vec<(String, String, String)>,
) -> Result<Vec<(String, apigw_model::Stage, String)>> {
    rows.into_iter()
        .map(|(api, stage, version)| {
            let stage = stage.parse().map_err(StoreError::Corrupt)?;
            Ok((api, stage, version))
        })
        .collect()
}

/// A deployment row: its document with the row's online flag.
pub(crate) fn deployment(doc: &str, online: bool) -> Result<Deployment> {
    let mut d: Deployment = from_doc(doc)?;
    d.online = online;
    Ok(d)
}

pub(crate) fn to_doc<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_doc<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_docs<T: DeserializeOwned>(rows: &[String]) -> Result<Vec<T>> {
    rows.iter().map(|s| from_doc(s)).collect()
}

/// The stored document of `v`: its secret fields sealed with `secrets`.
pub(crate) fn sealed_doc<T: Serialize + SecretFields + Clone>(
    secrets: &SecretBox,
    v: &T,
) -> Result<String> {
    to_doc(&secrets.seal_doc(v))
}

/// The documents of `rows` with their secret fields opened.
pub(crate) fn from_sealed_docs<T: DeserializeOwned + SecretFields>(
    rows: &[String],
    secrets: &SecretBox,
) -> Result<Vec<T>> {
    let mut docs: Vec<T> = from_docs(rows)?;
    for d in &mut docs {
        secrets.open_doc(d)?;
    }
    Ok(docs)
}

/// The documents with secret fields, in the order [`reseal`] takes them.
pub(crate) const RESEAL_DOCS: [&str; 4] = [
    "SELECT doc FROM access_keys ORDER BY access_key_id",
    "SELECT doc FROM apps ORDER BY app_id",
    "SELECT doc FROM domains ORDER BY domain_name",
    "SELECT doc FROM plugins ORDER BY plugin_id",
];

/// What opening a store with `secrets` rewrites: from the rows of [`RESEAL_DOCS`] (in that
/// order), the statements that store again every document holding a secret not in the form
/// `secrets` writes (plain ones sealed, those under the previous key sealed with the current
/// one, or stored plain when only a previous key is set), and what they do.
///
/// Every value is opened before any statement is made, so one sealed with a key `secrets` does
/// not hold ([`StoreError::MasterKey`], naming its id) or one that was altered
/// ([`StoreError::Corrupt`]) refuses the whole store and nothing is written. Run in one
/// transaction, by a store that keeps other writers out meanwhile; running it again finds
/// nothing to do.
pub(crate) fn reseal(docs: [Vec<String>; 4], secrets: &SecretBox) -> Result<(Vec<Step>, Resealed)> {
    let [access_keys, apps, domains, plugins] = docs;
    let mut done = Resealed::default();
    let mut steps = Vec::new();
    let step = |sql, key: Arg, doc: String| Step {
        sql,
        args: vec![doc.into(), key],
    };
    for doc in &access_keys {
        if let Some(k) = resealed::<AccessKey>(doc, secrets, &mut done)? {
            let key = (&k.access_key_id).into();
            steps.push(step(
                "UPDATE access_keys SET doc = $1 WHERE access_key_id = $2",
                key,
                to_doc(&k)?,
            ));
        }
    }
    for doc in &apps {
        if let Some(a) = resealed::<App>(doc, secrets, &mut done)? {
            let key = a.app_id.into();
            steps.push(step(
                "UPDATE apps SET doc = $1 WHERE app_id = $2",
                key,
                to_doc(&a)?,
            ));
        }
    }
    for doc in &domains {
        if let Some(d) = resealed::<Domain>(doc, secrets, &mut done)? {
            let key = (&d.domain_name).into();
            steps.push(step(
                "UPDATE domains SET doc = $1 WHERE domain_name = $2",
                key,
                to_doc(&d)?,
            ));
        }
    }
    for doc in &plugins {
        if let Some(p) = resealed::<Plugin>(doc, secrets, &mut done)? {
            let key = (&p.plugin_id).into();
            steps.push(step(
                "UPDATE plugins SET doc = $1 WHERE plugin_id = $2",
                key,
                to_doc(&p)?,
            ));
        }
    }
    Ok((steps, done))
}

/// The stored document `doc` in the form `secrets` writes; `None` when it is in that form
/// already.
fn resealed<T: DeserializeOwned + SecretFields>(
    doc: &str,
    secrets: &SecretBox,
    done: &mut Resealed,
) -> Result<Option<T>> {
    let mut value: T = from_doc(doc)?;
    let mut changed = false;
    for field in value.secret_fields() {
        // Every value is opened, so an altered one refuses the store now rather than at the
        // first read.
        let plain = secrets.open(field)?;
        match secrets.reseal(field)? {
            Reseal::Keep => continue,
            Reseal::Seal => done.sealed += 1,
            Reseal::Rekey if secrets.key_id().is_some() => done.rekeyed += 1,
            Reseal::Rekey => done.unsealed += 1,
        }
        *field = secrets.seal(&plain);
        changed = true;
    }
    Ok(changed.then_some(value))
}
