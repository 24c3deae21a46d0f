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
