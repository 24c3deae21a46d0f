//! Throttling policies, the legacy way (`CreateTrafficControl` ...): each is a `trafficControl`
//! plugin whose id is the `TrafficControlId`.

use super::{obj, Out};
use crate::error::ApiError;
use crate::params::Params;
use apigw_control::Control;
use serde_json::json;

const FAMILY: &super::legacy::Family = &super::legacy::TRAFFIC;

fn renamed(e: apigw_control::ControlError) -> ApiError {
    FAMILY.renamed(e)
}

pub async fn create(c: &Control, p: &Params) -> Out {
    let name = p.required("TrafficControlName")?;
    let unit = p.required("TrafficControlUnit")?.to_ascii_uppercase();
    let api = p.required_i64("ApiDefault")?;
    let (user, app) = (p.i64("UserDefault")?, p.i64("AppDefault")?);
    apigw_control::traffic::check_limits(&unit, api, user, app, &[])?;
    let mut doc = json!({"unit": unit, "apiDefault": api});
    if let Some(u) = user {
        doc["userDefault"] = json!(u);
    }
    if let Some(a) = app {
        doc["appDefault"] = json!(a);
    }
    let plugin = c
        .create_plugin(
            name,
            FAMILY.plugin_type,
            &doc.to_string(),
            p.get("Description").unwrap_or(""),
        )
        .await
        .map_err(renamed)?;
    Ok(obj(json!({"TrafficControlId": plugin.plugin_id})))
}

pub async fn set_apis(c: &Control, p: &Params) -> Out {
    FAMILY.set_apis(c, p).await
}

pub async fn remove_apis(c: &Control, p: &Params) -> Out {
    FAMILY.remove_apis(c, p).await
}

pub async fn delete(c: &Control, p: &Params) -> Out {
    let plugin = FAMILY.plugin(c, p.required("TrafficControlId")?).await?;
    c.delete_plugin(&plugin.plugin_id).await.map_err(renamed)?;
    Ok(Default::default())
}

/// A policy's document as the legacy actions see it.
fn policy_doc(plugin: &apigw_model::Plugin) -> Result<serde_json::Value, ApiError> {
    serde_norway::from_str(&plugin.plugin_data)
        .map_err(|e| ApiError::invalid("TrafficControl", format!("stored document: {e}")))
}

async fn policy(
    c: &Control,
    id: &str,
) -> Result<(apigw_model::Plugin, serde_json::Value), ApiError> {
    let plugin = FAMILY.plugin(c, id).await?;
    let doc = policy_doc(&plugin)?;
    Ok((plugin, doc))
}

/// The special limits of a document: (type, key, value).
fn specials(doc: &serde_json::Value) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for s in doc["specials"].as_array().into_iter().flatten() {
        let kind = s["type"].as_str().unwrap_or("").to_ascii_uppercase();
        for p in s["policies"].as_array().into_iter().flatten() {
            let num = |v: &serde_json::Value| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|t| t.trim().parse().ok()))
            };
            if let (Some(k), Some(v)) = (num(&p["key"]), num(&p["value"])) {
                out.push((kind.clone(), k, v));
            }
        }
    }
    out
}

fn set_specials(doc: &mut serde_json::Value, list: &[(String, i64, i64)]) {
    let mut by_type: Vec<serde_json::Value> = Vec::new();
    for kind in ["APP", "USER"] {
        let policies: Vec<serde_json::Value> = list
            .iter()
            .filter(|(k, _, _)| k == kind)
            .map(|(_, key, value)| json!({"key": key, "value": value}))
            .collect();
        if !policies.is_empty() {
            by_type.push(json!({"type": kind, "policies": policies}));
        }
    }
    doc["specials"] = serde_json::Value::Array(by_type);
}

/// Checks the document's limits and stores it.
async fn save(
    c: &Control,
    plugin: &apigw_model::Plugin,
    name: Option<&str>,
    doc: &serde_json::Value,
    description: &str,
) -> Out {
    let int = |k: &str| doc[k].as_i64();
    let values: Vec<i64> = specials(doc).iter().map(|(_, _, v)| *v).collect();
    apigw_control::traffic::check_limits(
        doc["unit"].as_str().unwrap_or(""),
        int("apiDefault").unwrap_or(0),
        int("userDefault"),
        int("appDefault"),
        &values,
    )?;
    c.modify_plugin_named(&plugin.plugin_id, name, &doc.to_string(), description)
        .await
        .map_err(renamed)?;
    Ok(Default::default())
}

pub async fn modify(c: &Control, p: &Params) -> Out {
    let (plugin, mut doc) = policy(c, p.required("TrafficControlId")?).await?;
    if let Some(u) = p.opt("TrafficControlUnit") {
        doc["unit"] = json!(u.to_ascii_uppercase());
    }
    for (param, member) in [
        ("ApiDefault", "apiDefault"),
        ("UserDefault", "userDefault"),
        ("AppDefault", "appDefault"),
    ] {
        if let Some(v) = p.i64(param)? {
            doc[member] = json!(v);
        }
    }
    let description = p
        .get("Description")
        .unwrap_or(&plugin.description)
        .to_string();
    save(c, &plugin, p.opt("TrafficControlName"), &doc, &description).await
}

fn special_type(p: &Params) -> Result<String, ApiError> {
    let t = p.required("SpecialType")?.to_ascii_uppercase();
    if t == "APP" || t == "USER" {
        Ok(t)
    } else {
        Err(ApiError::invalid("SpecialType", "APP or USER"))
    }
}

pub async fn add_special(c: &Control, p: &Params) -> Out {
    let (plugin, mut doc) = policy(c, p.required("TrafficControlId")?).await?;
    let kind = special_type(p)?;
    let key: i64 = p
        .required("SpecialKey")?
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid("SpecialKey", "an AppId or account id (a number)"))?;
    let value = p.required_i64("TrafficValue")?;
    let mut list = specials(&doc);
    list.retain(|(k, key0, _)| !(k == &kind && *key0 == key));
    list.push((kind, key, value));
    set_specials(&mut doc, &list);
    save(c, &plugin, None, &doc, &plugin.description.clone()).await
}

pub async fn delete_special(c: &Control, p: &Params) -> Out {
    let (plugin, mut doc) = policy(c, p.required("TrafficControlId")?).await?;
    let kind = special_type(p)?;
    let key = p.required("SpecialKey")?.trim().to_string();
    let mut list = specials(&doc);
    let before = list.len();
    list.retain(|(k, key0, _)| !(k == &kind && key0.to_string() == key));
    if list.len() == before {
        return Err(ApiError::not_found("TrafficSpecialControl", &key));
    }
    set_specials(&mut doc, &list);
    save(c, &plugin, None, &doc, &plugin.description.clone()).await
}

pub async fn delete_all_specials(c: &Control, p: &Params) -> Out {
    let (plugin, mut doc) = policy(c, p.required("TrafficControlId")?).await?;
    set_specials(&mut doc, &[]);
    save(c, &plugin, None, &doc, &plugin.description.clone()).await
}

pub async fn list(c: &Control, p: &Params) -> Out {
    let bound: Option<Vec<String>> = match (p.opt("ApiId"), p.opt_stage("StageName")?) {
        (Some(api), Some(stage)) => Some(
            c.plugin_bindings()
                .await?
                .into_iter()
                .filter(|b| b.api_id == api && b.stage_name == stage)
                .map(|b| b.plugin_id)
                .collect(),
        ),
        _ => None,
    };
    let mut items = Vec::new();
    for plugin in c.plugins().await? {
        if plugin.plugin_type != FAMILY.plugin_type
            || p.opt("TrafficControlId")
                .is_some_and(|id| id != plugin.plugin_id)
            || p.opt("TrafficControlName")
                .is_some_and(|n| !plugin.plugin_name.contains(n))
            || bound
                .as_ref()
                .is_some_and(|b| !b.contains(&plugin.plugin_id))
        {
            continue;
        }
        let Ok(doc) = policy_doc(&plugin) else {
            continue;
        };
        let mut by_type: Vec<serde_json::Value> = Vec::new();
        for kind in ["APP", "USER"] {
            let list: Vec<serde_json::Value> = specials(&doc)
                .into_iter()
                .filter(|(k, _, _)| k == kind)
                .map(
                    |(_, key, value)| json!({"SpecialKey": key.to_string(), "TrafficValue": value}),
                )
                .collect();
            if !list.is_empty() {
                by_type
                    .push(json!({"SpecialType": kind, "Specials": super::wrap("Special", list)}));
            }
        }
        let mut item = json!({
            "TrafficControlId": plugin.plugin_id, "TrafficControlName": plugin.plugin_name,
            "TrafficControlUnit": doc["unit"], "ApiDefault": doc["apiDefault"],
            "Description": plugin.description, "CreatedTime": plugin.created_time,
            "ModifiedTime": plugin.modified_time,
            "SpecialPolicies": super::wrap("SpecialPolicy", by_type),
        });
        for (member, key) in [("userDefault", "UserDefault"), ("appDefault", "AppDefault")] {
            if !doc[member].is_null() {
                item[key] = doc[member].clone();
            }
        }
        items.push(item);
    }
    let (page, mut out) = crate::params::paged(&items, p.page()?);
    out["TrafficControls"] = super::wrap("TrafficControl", page);
    Ok(obj(out))
}

pub async fn by_api(c: &Control, p: &Params) -> Out {
    FAMILY
        .on_api(
            c,
            p,
            ("TrafficControlItems", "TrafficControlItem"),
            ("TrafficControlItemId", "TrafficControlItemName"),
        )
        .await
}
