//! Backend signatures, the legacy way (`CreateSignature`, `SetSignatureApis` ...): each is a
//! `backendSignature` plugin whose id is the `SignatureId` (one direction: plugins made with
//! CreatePlugin are listed here too, as the cloud's plugin list shows legacy objects).

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::Control;
use apigw_model::params::SystemParam;
use apigw_model::plugin::BackendSignatureDoc;
use apigw_model::Plugin;
use serde_json::json;

const TYPE: &str = "backendSignature";

/// `NotFoundPlugin` → `NotFoundSignature`, `RepeatedPluginName` → `RepeatedSignatureName`.
fn renamed(e: apigw_control::ControlError) -> ApiError {
    let mut e = ApiError::from(e);
    e.code = e.code.replace("Plugin", "Signature");
    e
}

/// `SignatureKey`: 6-20 characters, a letter first, then letters, digits, `_`, `-`, `.`.
fn check_key(key: &str) -> Result<(), ApiError> {
    let ok = (6..=20).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "SignatureKey",
            "6-20 characters, a letter first, then letters, digits, `_`, `-` or `.`",
        ))
    }
}

/// `SignatureSecret`: 6-30 letters, digits and `_ @ # ! *`.
fn check_secret(secret: &str) -> Result<(), ApiError> {
    let ok = (6..=30).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@#!*".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "SignatureSecret",
            "6-30 letters, digits and `_ @ # ! *`",
        ))
    }
}

async fn signature(c: &Control, id: &str) -> Result<(Plugin, BackendSignatureDoc), ApiError> {
    let plugin = c.plugin(id).await.map_err(renamed)?;
    if plugin.plugin_type != TYPE {
        return Err(ApiError::not_found("Signature", id));
    }
    let doc = BackendSignatureDoc::parse(&plugin.plugin_data)
        .map_err(|why| ApiError::invalid("Signature", why))?;
    Ok((plugin, doc))
}

pub async fn create(c: &Control, p: &Params) -> Out {
    let name = p.required("SignatureName")?;
    let doc = BackendSignatureDoc {
        key: p.required("SignatureKey")?.to_string(),
        secret: p.required("SignatureSecret")?.to_string(),
    };
    check_key(&doc.key)?;
    check_secret(&doc.secret)?;
    let plugin = c
        .create_plugin(
            name,
            TYPE,
            &doc.to_yaml(),
            p.get("Description").unwrap_or(""),
        )
        .await
        .map_err(renamed)?;
    Ok(obj(
        json!({"SignatureId": plugin.plugin_id, "SignatureName": plugin.plugin_name}),
    ))
}

pub async fn modify(c: &Control, p: &Params) -> Out {
    let (plugin, old) = signature(c, p.required("SignatureId")?).await?;
    let doc = BackendSignatureDoc {
        key: p.opt("SignatureKey").unwrap_or(&old.key).to_string(),
        secret: p.opt("SignatureSecret").unwrap_or(&old.secret).to_string(),
    };
    if p.opt("SignatureKey").is_some() {
        check_key(&doc.key)?;
    }
    if p.opt("SignatureSecret").is_some() {
        check_secret(&doc.secret)?;
    }
    let renames = p
        .opt("SignatureName")
        .is_some_and(|n| n != plugin.plugin_name);
    if doc == old && !renames {
        return Err(ApiError::new(
            400,
            "EqualSignature",
            "The new SignatureKey and SignatureSecret equal the current ones.",
        ));
    }
    let description = p.get("Description").unwrap_or(&plugin.description);
    let changed = c
        .modify_plugin_named(
            &plugin.plugin_id,
            p.opt("SignatureName"),
            &doc.to_yaml(),
            description,
        )
        .await
        .map_err(renamed)?;
    Ok(obj(
        json!({"SignatureId": changed.plugin_id, "SignatureName": changed.plugin_name}),
    ))
}

pub async fn delete(c: &Control, p: &Params) -> Out {
    let (plugin, _) = signature(c, p.required("SignatureId")?).await?;
    c.delete_plugin(&plugin.plugin_id).await.map_err(renamed)?;
    Ok(Default::default())
}

pub async fn list(c: &Control, p: &Params) -> Out {
    let ids = match p.opt("SignatureId") {
        Some(_) => Some(p.list("SignatureId")?),
        None => None,
    };
    let mut items = Vec::new();
    for plugin in c.plugins().await? {
        if plugin.plugin_type != TYPE
            || ids
                .as_ref()
                .is_some_and(|ids| !ids.contains(&plugin.plugin_id))
            || p.opt("SignatureName")
                .is_some_and(|n| !plugin.plugin_name.contains(n))
        {
            continue;
        }
        let Ok(doc) = BackendSignatureDoc::parse(&plugin.plugin_data) else {
            continue;
        };
        items.push(json!({
            "RegionId": "local", "SignatureId": plugin.plugin_id,
            "SignatureName": plugin.plugin_name, "SignatureKey": doc.key,
            "SignatureSecret": doc.secret, "CreatedTime": plugin.created_time,
            "ModifiedTime": plugin.modified_time,
        }));
    }
    let (page, mut out) = paged(&items, p.page()?);
    out["SignatureInfos"] = wrap("SignatureInfo", page);
    Ok(obj(out))
}

pub async fn set_apis(c: &Control, p: &Params) -> Out {
    let (plugin, _) = signature(c, p.required("SignatureId")?).await?;
    let stage = p.stage("StageName")?;
    for api in p.list("ApiIds")? {
        c.attach_plugin(&plugin.plugin_id, &api, stage).await?;
    }
    Ok(Default::default())
}

pub async fn remove_apis(c: &Control, p: &Params) -> Out {
    let (plugin, _) = signature(c, p.required("SignatureId")?).await?;
    let stage = p.stage("StageName")?;
    let apis = match p.opt("ApiIds") {
        Some(_) => p.list("ApiIds")?,
        None => {
            let group = p.required("GroupId")?;
            c.plugin_bindings()
                .await?
                .into_iter()
                .filter(|b| {
                    b.plugin_id == plugin.plugin_id && b.group_id == group && b.stage_name == stage
                })
                .map(|b| b.api_id)
                .collect()
        }
    };
    for api in apis {
        c.detach_plugin(&plugin.plugin_id, &api, stage)
            .await
            .map_err(renamed)?;
    }
    Ok(Default::default())
}

pub async fn by_api(c: &Control, p: &Params) -> Out {
    let api = p.required("ApiId")?;
    let stage = p.stage("StageName")?;
    let plugins = c.plugins().await?;
    let mut items = Vec::new();
    for b in c.plugin_bindings().await? {
        if b.api_id != api || b.stage_name != stage {
            continue;
        }
        if let Some(plugin) = plugins
            .iter()
            .find(|x| x.plugin_id == b.plugin_id && x.plugin_type == TYPE)
        {
            items.push(json!({
                "SignatureId": plugin.plugin_id, "SignatureName": plugin.plugin_name,
                "BoundTime": plugin.modified_time,
            }));
        }
    }
    Ok(obj(json!({"Signatures": wrap("SignatureItem", items)})))
}

pub async fn system_parameters(_c: &Control, _p: &Params) -> Out {
    let items = SystemParam::ALL
        .iter()
        .map(|s| {
            let (demo, description) = s.describe();
            json!({"ParamName": s.name(), "ParamType": "string", "DemoValue": demo,
                   "Description": description})
        })
        .collect();
    Ok(obj(json!({"SystemParams": wrap("SystemParamItem", items)})))
}
