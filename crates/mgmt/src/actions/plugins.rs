//! Plugins and their bindings to APIs per stage.

use super::{obj, wrap, Out};
use crate::params::{paged, Params};
use apigw_control::Control;
use serde_json::json;

pub async fn create(c: &Control, p: &Params) -> Out {
    let plugin = c
        .create_plugin(
            p.required("PluginName")?,
            p.required("PluginType")?,
            p.required("PluginData")?,
            p.get("Description").unwrap_or(""),
        )
        .await?;
    Ok(obj(
        json!({"PluginId": plugin.plugin_id, "TagStatus": false}),
    ))
}

pub async fn modify(c: &Control, p: &Params) -> Out {
    let old = c.plugin(p.required("PluginId")?).await?;
    let data = p.opt("PluginData").unwrap_or(&old.plugin_data).to_string();
    let description = p.get("Description").unwrap_or(&old.description).to_string();
    c.modify_plugin(&old.plugin_id, &data, &description).await?;
    Ok(Default::default())
}

pub async fn delete(c: &Control, p: &Params) -> Out {
    c.delete_plugin(p.required("PluginId")?).await?;
    Ok(Default::default())
}

pub async fn list(c: &Control, p: &Params) -> Out {
    let mut plugins = c.plugins().await?;
    plugins.retain(|x| {
        p.opt("PluginId").is_none_or(|v| v == x.plugin_id)
            && p.opt("PluginName")
                .is_none_or(|v| x.plugin_name.contains(v))
            && p.opt("PluginType").is_none_or(|v| v == x.plugin_type)
    });
    let (page, mut out) = paged(&plugins, p.page()?);
    let items = page
        .iter()
        .map(|x| {
            json!({
                "PluginId": x.plugin_id, "PluginName": x.plugin_name, "PluginType": x.plugin_type,
                "PluginData": x.plugin_data, "Description": x.description,
                "CreatedTime": x.created_time, "ModifiedTime": x.modified_time, "RegionId": "local",
            })
        })
        .collect();
    out["Plugins"] = wrap("PluginAttribute", items);
    Ok(obj(out))
}

/// `ApiIds` (comma list) or the legacy single `ApiId`.
fn api_ids(p: &Params) -> Result<Vec<String>, crate::ApiError> {
    match p.opt("ApiIds") {
        Some(_) => p.list("ApiIds"),
        None => Ok(vec![p.required("ApiId")?.to_string()]),
    }
}

pub async fn attach(c: &Control, p: &Params) -> Out {
    let (plugin, stage) = (p.required("PluginId")?, p.stage("StageName")?);
    for api in api_ids(p)? {
        c.attach_plugin(plugin, &api, stage).await?;
    }
    Ok(Default::default())
}

pub async fn detach(c: &Control, p: &Params) -> Out {
    let (plugin, stage) = (p.required("PluginId")?, p.stage("StageName")?);
    c.detach_plugin(plugin, p.required("ApiId")?, stage).await?;
    Ok(Default::default())
}

/// `DescribePluginsByApi`: the plugins bound to an API in a stage.
pub async fn by_api(c: &Control, p: &Params) -> Out {
    let api = c.api(p.required("ApiId")?).await?;
    let stage = p.stage("StageName")?;
    let bound: Vec<String> = c
        .plugin_bindings()
        .await?
        .into_iter()
        .filter(|b| b.api_id == api.api_id && b.stage_name == stage)
        .map(|b| b.plugin_id)
        .collect();
    let plugins: Vec<_> = c
        .plugins()
        .await?
        .into_iter()
        .filter(|x| bound.contains(&x.plugin_id))
        .collect();
    let (page, mut out) = paged(&plugins, p.page()?);
    let items = page
        .iter()
        .map(|x| {
            json!({
                "PluginId": x.plugin_id, "PluginName": x.plugin_name, "PluginType": x.plugin_type,
                "PluginData": x.plugin_data, "Description": x.description,
                "CreatedTime": x.created_time, "ModifiedTime": x.modified_time, "RegionId": "local",
            })
        })
        .collect();
    out["Plugins"] = wrap("PluginAttribute", items);
    Ok(obj(out))
}

/// `DescribePluginApis`: the APIs (and stages) a plugin is bound to, optionally narrowed by
/// `GroupId`, `ApiId`, `ApiName`, `Method`, `Path`.
pub async fn apis(c: &Control, p: &Params) -> Out {
    let plugin = c.plugin(p.required("PluginId")?).await?;
    let mut items = Vec::new();
    for b in c.plugin_bindings().await? {
        if b.plugin_id != plugin.plugin_id
            || p.opt("GroupId").is_some_and(|g| g != b.group_id)
            || p.opt("ApiId").is_some_and(|a| a != b.api_id)
        {
            continue;
        }
        let (Ok(api), Ok(group)) = (c.api(&b.api_id).await, c.group(&b.group_id).await) else {
            continue;
        };
        let method = api.method();
        let path = api.request_config.request_path.clone();
        if p.opt("ApiName").is_some_and(|n| !api.api_name.contains(n))
            || p.opt("Method")
                .is_some_and(|m| !m.eq_ignore_ascii_case(&method))
            || p.opt("Path").is_some_and(|x| x != path)
        {
            continue;
        }
        items.push(json!({
            "ApiId": api.api_id, "ApiName": api.api_name, "GroupId": group.group_id,
            "GroupName": group.group_name, "StageName": b.stage_name.as_str(),
            "Method": method, "Path": path, "Description": api.description,
            "RegionId": "local",
        }));
    }
    let (page, mut out) = paged(&items, p.page()?);
    out["ApiSummarys"] = wrap("ApiPluginSummary", page);
    Ok(obj(out))
}

/// `AttachGroupPlugin`: binds the plugin to every API the group has now, in one stage (APIs
/// created later are bound with `AttachPlugin` or another `AttachGroupPlugin`).
pub async fn attach_group(c: &Control, p: &Params) -> Out {
    let (plugin, stage) = (p.required("PluginId")?, p.stage("StageName")?);
    c.plugin(plugin).await?;
    let group = c.group(p.required("GroupId")?).await?;
    for api in c.apis(&group.group_id).await? {
        c.attach_plugin(plugin, &api.api_id, stage).await?;
    }
    Ok(Default::default())
}

/// `DetachGroupPlugin`: unbinds the plugin from every API of the group in one stage.
pub async fn detach_group(c: &Control, p: &Params) -> Out {
    let (plugin, stage) = (p.required("PluginId")?, p.stage("StageName")?);
    c.plugin(plugin).await?;
    let group = c.group(p.required("GroupId")?).await?;
    for b in c.plugin_bindings().await? {
        if b.plugin_id == plugin && b.group_id == group.group_id && b.stage_name == stage {
            c.detach_plugin(plugin, &b.api_id, stage).await?;
        }
    }
    Ok(Default::default())
}
