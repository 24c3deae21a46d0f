//! The `Apps` and `Plugins` sections of the declarative file.

use crate::apply::{ApiStagesSpec, AppFileSpec, KeySpec, PluginSpec};
use crate::ops::{Control, Result};
use crate::AppSpec;
use apigw_model::{ApiDefinition, ModelError, Stage};
use std::collections::{BTreeMap, HashMap};

/// The API a file names by group and API name.
async fn resolve_api(control: &Control, group: &str, api: &str) -> Result<ApiDefinition> {
    let g = control
        .group_by_name(group)
        .await?
        .ok_or_else(|| ModelError::new("NotFoundApiGroup", format!("no group named `{group}`")))?;
    control
        .apis(&g.group_id)
        .await?
        .into_iter()
        .find(|a| a.api_name == api)
        .ok_or_else(|| {
            ModelError::new(
                "NotFoundApi",
                format!("group `{group}` has no API named `{api}`"),
            )
            .into()
        })
}

/// (api id, stage) → (expiry, "group/api") for every grant or binding the file lists.
async fn resolve_targets(
    control: &Control,
    specs: &[ApiStagesSpec],
) -> Result<HashMap<(String, Stage), (Option<String>, String)>> {
    let mut out = HashMap::new();
    for s in specs {
        let api = resolve_api(control, &s.group_name, &s.api_name).await?;
        for stage in &s.stages {
            out.insert(
                (api.api_id.clone(), *stage),
                (
                    s.auth_valid_time.clone(),
                    format!("{}/{}", s.group_name, s.api_name),
                ),
            );
        }
    }
    Ok(out)
}

pub(crate) async fn apply_app(
    control: &Control,
    spec: &AppFileSpec,
    report: &mut Vec<String>,
) -> Result<()> {
    let name = &spec.app_name;
    let mut app = match control.app_by_name(name).await? {
        Some(app) => app,
        None => {
            let first_key = spec.keys.as_ref().and_then(|k| k.first());
            let app = control
                .create_app(AppSpec {
                    app_name: name.clone(),
                    description: spec.description.clone(),
                    extend: spec.extend.clone(),
                    app_key: first_key.map(|k| k.app_key.clone()),
                    app_secret: first_key.map(|k| k.app_secret.clone()),
                    app_code: spec.app_codes.as_ref().and_then(|c| c.first().cloned()),
                })
                .await?;
            report.push(format!("created app {name} ({})", app.app_id));
            app
        }
    };
    if app.description != spec.description
        || app.extend != spec.extend
        || app.disabled != spec.disabled
    {
        app = control
            .modify_app(
                app.app_id,
                name,
                &spec.description,
                Some(&spec.extend),
                Some(spec.disabled),
            )
            .await?;
        report.push(format!("updated app {name}"));
    }
    let keys: Vec<(String, String)> = match &spec.keys {
        Some(k) => k
            .iter()
            .map(|k| (k.app_key.clone(), k.app_secret.clone()))
            .collect(),
        None => app
            .keys
            .iter()
            .map(|k| (k.app_key.clone(), k.app_secret.clone()))
            .collect(),
    };
    let codes = spec
        .app_codes
        .clone()
        .unwrap_or_else(|| app.app_codes.clone());
    let current: Vec<(String, String)> = app
        .keys
        .iter()
        .map(|k| (k.app_key.clone(), k.app_secret.clone()))
        .collect();
    if keys != current || codes != app.app_codes {
        app = control
            .set_app_credentials(app.app_id, &keys, &codes)
            .await?;
        report.push(format!("updated credentials of app {name}"));
    }
    if let Some(grants) = &spec.authorizations {
        let wanted = resolve_targets(control, grants).await?;
        let existing: Vec<_> = control
            .authorizations()
            .await?
            .into_iter()
            .filter(|g| g.app_id == app.app_id)
            .collect();
        for ((api_id, stage), (valid, label)) in &wanted {
            let same = existing.iter().any(|g| {
                &g.api_id == api_id && g.stage_name == *stage && &g.auth_valid_time == valid
            });
            if !same {
                control
                    .authorize(app.app_id, api_id, *stage, valid.as_deref(), "apigw apply")
                    .await?;
                report.push(format!("authorized app {name} on {label} in {stage}"));
            }
        }
        for g in existing {
            if !wanted.contains_key(&(g.api_id.clone(), g.stage_name)) {
                control.revoke(app.app_id, &g.api_id, g.stage_name).await?;
                report.push(format!(
                    "revoked app {name} on API {} in {}",
                    g.api_id, g.stage_name
                ));
            }
        }
    }
    Ok(())
}

pub(crate) async fn apply_plugin(
    control: &Control,
    spec: &PluginSpec,
    report: &mut Vec<String>,
) -> Result<()> {
    let name = &spec.plugin_name;
    let plugin = match control.plugin_by_name(name).await? {
        None => {
            let p = control
                .create_plugin(
                    name,
                    &spec.plugin_type,
                    &spec.plugin_data,
                    &spec.description,
                )
                .await?;
            report.push(format!("created plugin {name} ({})", p.plugin_id));
            p
        }
        Some(p) if p.plugin_type != spec.plugin_type => {
            return Err(ModelError::invalid(
                "PluginType",
                format!(
                    "plugin `{name}` is a {}; delete it to change its type",
                    p.plugin_type
                ),
            )
            .into())
        }
        Some(p) if p.plugin_data != spec.plugin_data || p.description != spec.description => {
            let p = control
                .modify_plugin(&p.plugin_id, &spec.plugin_data, &spec.description)
                .await?;
            report.push(format!("updated plugin {name}"));
            p
        }
        Some(p) => p,
    };
    if let Some(targets) = &spec.attach_to {
        let wanted = resolve_targets(control, targets).await?;
        let existing: Vec<_> = control
            .plugin_bindings()
            .await?
            .into_iter()
            .filter(|b| b.plugin_id == plugin.plugin_id)
            .collect();
        for ((api_id, stage), (_, label)) in &wanted {
            if !existing
                .iter()
                .any(|b| &b.api_id == api_id && b.stage_name == *stage)
            {
                control
                    .attach_plugin(&plugin.plugin_id, api_id, *stage)
                    .await?;
                report.push(format!("attached plugin {name} to {label} in {stage}"));
            }
        }
        for b in existing {
            if !wanted.contains_key(&(b.api_id.clone(), b.stage_name)) {
                control
                    .detach_plugin(&plugin.plugin_id, &b.api_id, b.stage_name)
                    .await?;
                report.push(format!(
                    "detached plugin {name} from API {} in {}",
                    b.api_id, b.stage_name
                ));
            }
        }
    }
    Ok(())
}

/// Names of every API: id → (group name, API name).
async fn api_names(control: &Control) -> Result<HashMap<String, (String, String)>> {
    let mut out = HashMap::new();
    for g in control.groups().await? {
        for a in control.apis(&g.group_id).await? {
            out.insert(a.api_id, (g.group_name.clone(), a.api_name));
        }
    }
    Ok(out)
}

/// Groups (api id, stage, expiry) into file entries, one per API and expiry.
fn to_specs(
    names: &HashMap<String, (String, String)>,
    items: impl Iterator<Item = (String, Stage, Option<String>)>,
) -> Vec<ApiStagesSpec> {
    let mut grouped: BTreeMap<(String, String, Option<String>), Vec<Stage>> = BTreeMap::new();
    for (api_id, stage, valid) in items {
        if let Some((g, a)) = names.get(&api_id) {
            grouped
                .entry((g.clone(), a.clone(), valid))
                .or_default()
                .push(stage);
        }
    }
    grouped
        .into_iter()
        .map(|((group_name, api_name, auth_valid_time), mut stages)| {
            stages.sort();
            ApiStagesSpec {
                group_name,
                api_name,
                stages,
                auth_valid_time,
            }
        })
        .collect()
}

pub(crate) async fn export_apps(control: &Control) -> Result<Vec<AppFileSpec>> {
    let names = api_names(control).await?;
    let grants = control.authorizations().await?;
    let mut out = Vec::new();
    for app in control.apps().await? {
        let mine = grants
            .iter()
            .filter(|g| g.app_id == app.app_id)
            .map(|g| (g.api_id.clone(), g.stage_name, g.auth_valid_time.clone()));
        out.push(AppFileSpec {
            authorizations: Some(to_specs(&names, mine)),
            app_name: app.app_name,
            description: app.description,
            extend: app.extend,
            disabled: app.disabled,
            keys: Some(
                app.keys
                    .into_iter()
                    .map(|k| KeySpec {
                        app_key: k.app_key,
                        app_secret: k.app_secret,
                    })
                    .collect(),
            ),
            app_codes: Some(app.app_codes),
        });
    }
    out.sort_by(|a, b| a.app_name.cmp(&b.app_name));
    Ok(out)
}

pub(crate) async fn export_plugins(control: &Control) -> Result<Vec<PluginSpec>> {
    let names = api_names(control).await?;
    let bindings = control.plugin_bindings().await?;
    let mut out = Vec::new();
    for p in control.plugins().await? {
        let mine = bindings
            .iter()
            .filter(|b| b.plugin_id == p.plugin_id)
            .map(|b| (b.api_id.clone(), b.stage_name, None));
        out.push(PluginSpec {
            attach_to: Some(to_specs(&names, mine)),
            plugin_name: p.plugin_name,
            plugin_type: p.plugin_type,
            plugin_data: p.plugin_data,
            description: p.description,
        });
    }
    out.sort_by(|a, b| a.plugin_name.cmp(&b.plugin_name));
    Ok(out)
}
