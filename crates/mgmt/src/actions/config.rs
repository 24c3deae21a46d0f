//! apigw's own actions on the whole declarative file (not in CloudAPI): `ApplyConfiguration`
//! and `ExportConfiguration`, what `apigw apply`, `apigw diff` and `apigw export` call with
//! `--endpoint`. Each runs the same plan as the local commands (`apigw_control::apply`): the
//! file is all-or-nothing, validated the same way, and a write is live when the call returns.
//! Only the root account may call them (`ForbiddenConfiguration`, 403): the file covers a
//! whole configuration, and an export holds private keys and app secrets.

use super::{obj, Out};
use crate::error::ApiError;
use crate::params::Params;
use apigw_control::apply::{apply_with, export as export_file, ApplyOptions, GatewayFile};
use apigw_control::Control;
use apigw_model::account::ROOT_ACCOUNT_ID;
use serde_json::json;

fn root_only(c: &Control, action: &str) -> Result<(), ApiError> {
    if c.account() == ROOT_ACCOUNT_ID {
        return Ok(());
    }
    Err(ApiError::new(
        403,
        "ForbiddenConfiguration",
        format!("only the root account may call {action}: it covers the whole configuration"),
    ))
}

/// `Configuration` (the file's YAML text, certificate files already inlined), `DryRun`
/// (plan and report, write nothing), `Prune` (delete what the file does not list). Answers the
/// report lines as `Changes`.
pub async fn apply(c: &Control, p: &Params) -> Out {
    root_only(c, "ApplyConfiguration")?;
    let text = p.required("Configuration")?;
    let options = ApplyOptions {
        prune: p.bool("Prune")?.unwrap_or(false),
        dry_run: p.bool("DryRun")?.unwrap_or(false),
    };
    let file = GatewayFile::parse(text)?;
    let changes = apply_with(c, &file, options).await?;
    Ok(obj(json!({
        "DryRun": options.dry_run,
        "Prune": options.prune,
        "Changed": !changes.is_empty(),
        "Changes": {"Change": changes},
    })))
}

/// The whole configuration of the root account as a file `ApplyConfiguration` accepts.
pub async fn export(c: &Control, _p: &Params) -> Out {
    root_only(c, "ExportConfiguration")?;
    let (file, notes) = export_file(c).await?;
    Ok(obj(json!({
        "Configuration": file.to_yaml(),
        "DraftsDiffer": {"Api": notes.drafts_differ},
        "HasPrivateKeys": notes.has_private_keys,
    })))
}
