//! IP access control policies, the legacy way (`CreateIpControl`, `AddIpControlPolicyItem`,
//! `SetIpControlApis` ...): each is an `ipControl` plugin whose id is the `IpControlId`; a
//! policy item is an entry of the document's `items`, with an `id` (its `PolicyItemId`).

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::Control;
use apigw_model::Plugin;
use serde_json::{json, Value};

const TYPE: &str = FAMILY.plugin_type;

const FAMILY: &super::legacy::Family = &super::legacy::IP;

fn renamed(e: apigw_control::ControlError) -> ApiError {
    FAMILY.renamed(e)
}

async fn policy(c: &Control, id: &str) -> Result<(Plugin, Value), ApiError> {
    let plugin = FAMILY.plugin(c, id).await?;
    let doc: Value = serde_norway::from_str(&plugin.plugin_data)
        .map_err(|e| ApiError::invalid("IpControl", format!("stored document: {e}")))?;
    Ok((plugin, doc))
}

/// An item from `CidrIp` (IPs and blocks separated by `;` or `,`) and an optional `AppId`
/// (ALLOW policies only).
fn item(cidr: &str, app_id: Option<&str>, allow: bool, now: &str) -> Result<Value, ApiError> {
    let blocks: Vec<&str> = cidr
        .split([';', ','])
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .collect();
    if blocks.is_empty() {
        return Err(ApiError::missing("CidrIp"));
    }
    let mut v =
        json!({"id": new_item_id(), "blocks": blocks, "createTime": now, "modifiedTime": now});
    if let Some(a) = app_id.filter(|a| !a.trim().is_empty()) {
        if !allow {
            return Err(ApiError::invalid(
                "AppId",
                "only ALLOW policies restrict an app; this one is REFUSE",
            ));
        }
        let id: i64 = a
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid("AppId", "a number"))?;
        v["appId"] = json!(id);
    }
    Ok(v)
}

fn new_item_id() -> String {
    format!("P{:016x}", fastrand::u64(..))
}

/// `IpControlPolicys.N.CidrIp` / `.AppId`, N = 1, 2, ...
fn initial_items(p: &Params, allow: bool, now: &str) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for n in 1.. {
        let Some(cidr) = p.opt(&format!("IpControlPolicys.{n}.CidrIp")) else {
            break;
        };
        out.push(item(
            cidr,
            p.opt(&format!("IpControlPolicys.{n}.AppId")),
            allow,
            now,
        )?);
    }
    Ok(out)
}

/// Stores the document after the data plane's checks (blocks, `appId` only in ALLOW).
async fn save(
    c: &Control,
    plugin: &Plugin,
    name: Option<&str>,
    doc: &Value,
    description: &str,
) -> Out {
    c.modify_plugin_named(&plugin.plugin_id, name, &doc.to_string(), description)
        .await
        .map_err(renamed)?;
    Ok(Default::default())
}

pub async fn create(c: &Control, p: &Params) -> Out {
    let name = p.required("IpControlName")?;
    let kind = p.required("IpControlType")?.to_ascii_uppercase();
    if kind != "ALLOW" && kind != "REFUSE" {
        return Err(ApiError::invalid("IpControlType", "ALLOW or REFUSE"));
    }
    let doc = json!({"type": kind, "items": initial_items(p, kind == "ALLOW", &apigw_control::now_utc())?});
    let plugin = c
        .create_plugin(
            name,
            TYPE,
            &doc.to_string(),
            p.get("Description").unwrap_or(""),
        )
        .await
        .map_err(renamed)?;
    Ok(obj(json!({"IpControlId": plugin.plugin_id})))
}

pub async fn modify(c: &Control, p: &Params) -> Out {
    let (plugin, doc) = policy(c, p.required("IpControlId")?).await?;
    let description = p
        .get("Description")
        .unwrap_or(&plugin.description)
        .to_string();
    save(c, &plugin, p.opt("IpControlName"), &doc, &description).await
}

pub async fn delete(c: &Control, p: &Params) -> Out {
    let (plugin, _) = policy(c, p.required("IpControlId")?).await?;
    c.delete_plugin(&plugin.plugin_id).await.map_err(renamed)?;
    Ok(Default::default())
}

pub async fn list(c: &Control, p: &Params) -> Out {
    let mut items = Vec::new();
    for plugin in c.plugins().await? {
        if plugin.plugin_type != TYPE
            || p.opt("IpControlId")
                .is_some_and(|id| id != plugin.plugin_id)
            || p.opt("IpControlName")
                .is_some_and(|n| !plugin.plugin_name.contains(n))
        {
            continue;
        }
        let Ok(doc) = serde_norway::from_str::<Value>(&plugin.plugin_data) else {
            continue;
        };
        let kind = doc["type"].as_str().unwrap_or("").to_ascii_uppercase();
        if p.opt("IpControlType")
            .is_some_and(|t| !t.eq_ignore_ascii_case(&kind))
        {
            continue;
        }
        items.push(json!({
            "IpControlId": plugin.plugin_id, "IpControlName": plugin.plugin_name,
            "IpControlType": kind, "Description": plugin.description, "RegionId": "local",
            "CreateTime": plugin.created_time, "ModifiedTime": plugin.modified_time,
        }));
    }
    let (page, mut out) = paged(&items, p.page()?);
    out["IpControlInfos"] = wrap("IpControlInfo", page);
    Ok(obj(out))
}

pub async fn add_item(c: &Control, p: &Params) -> Out {
    let (plugin, mut doc) = policy(c, p.required("IpControlId")?).await?;
    let allow = doc["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("ALLOW"));
    let new = item(
        p.required("CidrIp")?,
        p.opt("AppId"),
        allow,
        &apigw_control::now_utc(),
    )?;
    let id = new["id"].clone();
    match doc["items"].as_array_mut() {
        Some(items) => items.push(new),
        None => doc["items"] = json!([new]),
    }
    save(c, &plugin, None, &doc, &plugin.description.clone()).await?;
    Ok(obj(json!({"PolicyItemId": id})))
}

pub async fn remove_items(c: &Control, p: &Params) -> Out {
    let (plugin, mut doc) = policy(c, p.required("IpControlId")?).await?;
    let ids = p.list("PolicyItemIds")?;
    let items = doc["items"]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let (gone, kept): (Vec<Value>, Vec<Value>) = items.into_iter().partition(|i| {
        i["id"]
            .as_str()
            .is_some_and(|id| ids.iter().any(|x| x == id))
    });
    if gone.len() != ids.len() {
        return Err(ApiError::not_found("IpControlPolicyItem", &ids.join(",")));
    }
    doc["items"] = Value::Array(kept);
    save(c, &plugin, None, &doc, &plugin.description.clone()).await
}

pub async fn items(c: &Control, p: &Params) -> Out {
    let (_, doc) = policy(c, p.required("IpControlId")?).await?;
    let items: Vec<Value> = doc["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| {
            p.opt("PolicyItemId")
                .is_none_or(|id| i["id"].as_str() == Some(id))
        })
        .map(|i| {
            let blocks: Vec<&str> = i["blocks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut v = json!({"PolicyItemId": i["id"], "CidrIp": blocks.join(";"),
                               "CreateTime": i["createTime"], "ModifiedTime": i["modifiedTime"]});
            if let Some(a) = i["appId"].as_i64() {
                v["AppId"] = json!(a.to_string());
            }
            v
        })
        .collect();
    let (page, mut out) = paged(&items, p.page()?);
    out["IpControlPolicyItems"] = wrap("IpControlPolicyItem", page);
    Ok(obj(out))
}

pub async fn set_apis(c: &Control, p: &Params) -> Out {
    FAMILY.set_apis(c, p).await
}

pub async fn remove_apis(c: &Control, p: &Params) -> Out {
    FAMILY.remove_apis(c, p).await
}

/// `ModifyIpControlPolicyItem`: new `CidrIp` and/or `AppId` for one item.
pub async fn modify_item(c: &Control, p: &Params) -> Out {
    let (plugin, mut doc) = policy(c, p.required("IpControlId")?).await?;
    let id = p.required("PolicyItemId")?;
    let allow = doc["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("ALLOW"));
    let items = doc["items"].as_array_mut();
    let Some(target) = items
        .into_iter()
        .flatten()
        .find(|i| i["id"].as_str() == Some(id))
    else {
        return Err(ApiError::not_found("IpControlPolicyItem", id));
    };
    let cidr = match p.opt("CidrIp") {
        Some(c) => c.to_string(),
        None => target["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(";"),
    };
    let app = match p.opt("AppId") {
        Some(a) => Some(a.to_string()),
        None => target["appId"].as_i64().map(|a| a.to_string()),
    };
    let mut new = item(&cidr, app.as_deref(), allow, &apigw_control::now_utc())?;
    new["id"] = json!(id);
    new["createTime"] = target["createTime"].clone();
    *target = new;
    save(c, &plugin, None, &doc, &plugin.description.clone()).await
}
