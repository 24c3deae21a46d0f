//! Copies a whole configuration from one store into another (`apigw migrate`: an embedded
//! installation into a cluster's PostgreSQL database).
//!
//! Everything is copied: groups, domains (with certificates), API drafts, every deployment of
//! the history with the one online in each stage, apps with their secrets and AppCodes, grants,
//! plugins, bindings, VPC accesses, backend services, stage variables and management
//! AccessKeys. It is read through the [`Store`] trait from the
//! source (secrets opened with the source's keys) and written to the target as one
//! [`Store::commit`] (one transaction: all of it or nothing; secrets sealed with the target's
//! key), so the target ends up as the source was, or unchanged.
//!
//! The target must hold no configuration (no group, app or plugin): a copy never merges two
//! installations. AccessKeys are the exception — a node started on the target has already
//! stored its root key — and a key whose id the target holds is left as the target has it.
//! The source must not change while it is read: its generation is read before and after, and a
//! copy of a source that moved meanwhile is refused.

use crate::{Result, Store, StoreError, Write};
use apigw_model::{AccessKey, Deployment, Stage};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// What a copy moves (or, in a dry run, would move).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub groups: usize,
    pub domains: usize,
    pub apis: usize,
    /// History versions, online or not.
    pub deployments: usize,
    /// Of those, the ones online (one per API and stage where the API is deployed).
    pub online: usize,
    pub apps: usize,
    pub authorizations: usize,
    pub plugins: usize,
    pub plugin_bindings: usize,
    pub vpc_accesses: usize,
    pub backends: usize,
    pub stage_variables: usize,
    pub access_keys: usize,
    /// AccessKeys not copied because the target holds a key with the same id.
    pub access_keys_kept: Vec<String>,
}

impl fmt::Display for CopyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "groups          {}", self.groups)?;
        writeln!(f, "domains         {}", self.domains)?;
        writeln!(f, "apis            {}", self.apis)?;
        writeln!(
            f,
            "deployments     {} ({} online)",
            self.deployments, self.online
        )?;
        writeln!(f, "apps            {}", self.apps)?;
        writeln!(f, "authorizations  {}", self.authorizations)?;
        writeln!(f, "plugins         {}", self.plugins)?;
        writeln!(f, "plugin bindings {}", self.plugin_bindings)?;
        writeln!(f, "vpc accesses    {}", self.vpc_accesses)?;
        writeln!(f, "backends        {}", self.backends)?;
        writeln!(f, "stage variables {}", self.stage_variables)?;
        write!(f, "access keys     {}", self.access_keys)?;
        if !self.access_keys_kept.is_empty() {
            write!(
                f,
                " (already in the target, left as they are there: {})",
                self.access_keys_kept.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Plans the copy of everything in `from` into `to` and, unless `dry_run`, commits it in one
/// transaction. Refuses ([`StoreError::Conflict`]) a target that holds configuration and a
/// source that changed while it was read; writes nothing then.
pub async fn copy_all(from: &dyn Store, to: &dyn Store, dry_run: bool) -> Result<CopyReport> {
    let target = to.load_all().await?;
    refuse_non_empty(&target)?;
    let kept: HashSet<String> = to
        .list_access_keys()
        .await?
        .into_iter()
        .map(|k| k.access_key_id)
        .collect();

    let before = from.generation().await?;
    let (batch, report) = plan(from, &kept).await?;
    if from.generation().await? != before {
        return Err(StoreError::Conflict(
            "the source changed while it was read; stop the gateway that uses it and run again"
                .into(),
        ));
    }
    if !dry_run {
        to.commit(&batch, Some(target.live.generation)).await?;
    }
    Ok(report)
}

fn refuse_non_empty(target: &crate::StoredConfig) -> Result<()> {
    let live = &target.live;
    if live.groups.is_empty() && live.apps.is_empty() && live.plugins.is_empty() {
        return Ok(());
    }
    Err(StoreError::Conflict(format!(
        "the target already holds a configuration ({} groups, {} apps, {} plugins); a migration copies into an empty store only",
        live.groups.len(),
        live.apps.len(),
        live.plugins.len()
    )))
}

/// Reads the source and turns it into the writes that recreate it.
async fn plan(from: &dyn Store, kept: &HashSet<String>) -> Result<(Vec<Write>, CopyReport)> {
    let mut batch = Vec::new();
    let mut report = CopyReport::default();

    let groups = from.list_groups().await?;
    report.groups = groups.len();
    let mut apis = Vec::new();
    for g in &groups {
        apis.extend(from.list_apis(&g.group_id).await?);
    }
    batch.extend(groups.into_iter().map(Write::PutGroup));

    let domains = from.list_domains().await?;
    report.domains = domains.len();
    batch.extend(domains.into_iter().map(Write::PutDomain));

    report.apis = apis.len();
    let mut histories = Vec::new();
    for api in &apis {
        histories.push(from.history(&api.api_id, None).await?);
    }
    batch.extend(apis.into_iter().map(Write::PutApi));
    for history in histories {
        report.deployments += history.len();
        report.online += history.iter().filter(|d| d.online).count();
        batch.extend(replay_history(history));
    }

    let apps = from.list_apps().await?;
    report.apps = apps.len();
    batch.extend(apps.into_iter().map(Write::PutApp));
    let grants = from.list_authorizations().await?;
    report.authorizations = grants.len();
    batch.extend(grants.into_iter().map(Write::PutAuthorization));

    let plugins = from.list_plugins().await?;
    report.plugins = plugins.len();
    batch.extend(plugins.into_iter().map(Write::PutPlugin));
    let bindings = from.list_plugin_bindings().await?;
    report.plugin_bindings = bindings.len();
    batch.extend(bindings.into_iter().map(|binding| Write::BindPlugin {
        binding,
        replaces: Vec::new(),
    }));

    let vpc_accesses = from.list_vpc_accesses().await?;
    report.vpc_accesses = vpc_accesses.len();
    batch.extend(vpc_accesses.into_iter().map(Write::PutVpcAccess));
    let backends = from.list_backends().await?;
    report.backends = backends.len();
    batch.extend(backends.into_iter().map(Write::PutBackend));
    let variables = from.list_stage_variables().await?;
    report.stage_variables = variables.len();
    batch.extend(variables.into_iter().map(Write::PutStageVariable));

    let (copied, left): (Vec<AccessKey>, Vec<AccessKey>) = from
        .list_access_keys()
        .await?
        .into_iter()
        .partition(|k| !kept.contains(&k.access_key_id));
    report.access_keys = copied.len();
    report.access_keys_kept = left.into_iter().map(|k| k.access_key_id).collect();
    batch.extend(copied.into_iter().map(Write::PutAccessKey));
    Ok((batch, report))
}

/// The writes that recreate one API's history (newest first, as [`Store::history`] gives
/// it): every version deployed oldest first (each deploy makes its version online), then the
/// online one of each stage made online again, or the stage abolished when none is.
fn replay_history(history: Vec<Deployment>) -> Vec<Write> {
    let mut stages: BTreeMap<Stage, (String, Option<String>, String)> = BTreeMap::new();
    let mut writes = Vec::with_capacity(history.len() + 1);
    for d in history.into_iter().rev() {
        let entry = stages
            .entry(d.stage_name)
            .or_insert_with(|| (d.api_id.clone(), None, String::new()));
        if d.online {
            entry.1 = Some(d.history_version.clone());
        }
        entry.2 = d.history_version.clone();
        writes.push(Write::Deploy(d));
    }
    for (stage, (api_id, online, last)) in stages {
        match online {
            Some(version) if version == last => {}
            Some(version) => writes.push(Write::SwitchVersion {
                api_id,
                stage,
                version,
            }),
            None => writes.push(Write::Abolish { api_id, stage }),
        }
    }
    writes
}
