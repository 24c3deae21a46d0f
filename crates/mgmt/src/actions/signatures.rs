//! Backend signatures, the legacy way (`CreateSignature`, `SetSignatureApis` ...): each is a
//! `backendSignature` plugin whose id is the `SignatureId` (one direction: plugins made with
//! CreatePlugin are listed here too, as the cloud's plugin list shows legacy objects).

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::Control;
use apigw_model::params::SystemParam;
use apigw_model::Plugin;
use apigw_plugin::backend_signature::BackendSignatureDoc;
use serde_json::json;

const TYPE: &str = FAMILY.plugin_type;

const FAMILY: &super::legacy::Family = &super::legacy::SIGNATURE;

fn renamed(e: apigw_control::ControlError) -> ApiError {
    FAMILY.renamed(e)
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
    let plugin = FAMILY.plugin(c, id).await?;
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
    FAMILY.set_apis(c, p).await
}

pub async fn remove_apis(c: &Control, p: &Params) -> Out {
    FAMILY.remove_apis(c, p).await
}

pub async fn by_api(c: &Control, p: &Params) -> Out {
    FAMILY
        .on_api(
            c,
            p,
            ("Signatures", "SignatureItem"),
            ("SignatureId", "SignatureName"),
        )
        .await
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
