//! `apigw apply`, `apigw diff` and `apigw export`: the declarative file, on the store (the data
//! directory, or `--store`) or, with `--endpoint`, through the management API of a running
//! gateway (`ApplyConfiguration`, `ExportConfiguration`), which runs the same plan there.

use crate::local::{self, Output};
use crate::remote::{Remote, RemoteArgs};
use crate::DataDir;
use apigw_control::apply::{apply_with, ApplyOptions, GatewayFile};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

#[derive(clap::Args)]
pub struct ApplyArgs {
    /// The file (see docs/configuration.md).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Also delete what the file does not list: groups, the APIs and domains of the groups it
    /// lists, apps, plugins (docs/cli.md, "Pruning"). Each deletion is printed.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub data: DataDir,
}

#[derive(clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// `text` (one line per change) or `json` (`{"Changed": bool, "Changes": [...]}`).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write to this file (mode 0600) instead of standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub data: DataDir,
}

/// `apigw apply`: prints one line per change, or `nothing to change`.
pub fn apply(a: ApplyArgs) -> Result<(), String> {
    let changes = changes(&a, false)?;
    if changes.is_empty() {
        println!("nothing to change");
    }
    for line in changes {
        println!("{line}");
    }
    Ok(())
}

/// `apigw diff`: what `apply` would change. Exit 0: nothing; 1: something would change;
/// 2: the file or the call failed (the message on stderr).
pub fn diff(a: DiffArgs) -> ExitCode {
    match changes(&a.apply, true) {
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Ok(changes) => {
            match a.output {
                Output::Json => local::print_json(&serde_json::json!({
                    "Changed": !changes.is_empty(), "Changes": changes,
                })),
                Output::Text => changes.iter().for_each(|line| println!("{line}")),
            }
            if changes.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The report lines of applying the file (a dry run writes nothing), locally or remotely.
fn changes(a: &ApplyArgs, dry_run: bool) -> Result<Vec<String>, String> {
    let options = ApplyOptions {
        prune: a.prune,
        dry_run,
    };
    if let Some(endpoint) = &a.remote.endpoint {
        return remote_apply(endpoint, &a.remote, &a.file, options);
    }
    let path = a.file.clone();
    let out = Rc::new(Cell::new(Vec::new()));
    let sink = out.clone();
    local::run(&a.data, move |control| {
        Box::pin(async move {
            let parsed = GatewayFile::read(&path).map_err(|e| e.to_string())?;
            let report = apply_with(control, &parsed, options)
                .await
                .map_err(|e| e.to_string())?;
            sink.set(report);
            Ok(())
        })
    })?;
    Ok(out.take())
}

/// `ApplyConfiguration` with the file's text (certificate files read in).
fn remote_apply(
    endpoint: &str,
    r: &RemoteArgs,
    file: &Path,
    options: ApplyOptions,
) -> Result<Vec<String>, String> {
    let text = text_to_send(file)?;
    let remote = Remote::new(endpoint, &r.key, r.ca_file.as_deref())?;
    let mut query = Vec::new();
    if options.prune {
        query.push(("Prune".to_string(), "true".to_string()));
    }
    if options.dry_run {
        query.push(("DryRun".to_string(), "true".to_string()));
    }
    let form = [("Configuration".to_string(), text)];
    let answer = remote.call("ApplyConfiguration", &query, &form)?;
    if !answer.status.is_success() {
        return Err(answer.error());
    }
    let doc = answer.json();
    let changes = doc["Changes"]["Change"]
        .as_array()
        .ok_or_else(|| format!("unexpected answer: {doc}"))?;
    Ok(changes
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect())
}

/// The file as written; when it names certificate files, the file with them read in (paths
/// relative to it, as a local apply reads them) and written out again as YAML. The gateway
/// never reads files named by a caller.
fn text_to_send(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let parsed = GatewayFile::parse(&text).map_err(|e| e.to_string())?;
    let names_files = parsed
        .groups
        .iter()
        .flat_map(|g| g.domains.iter())
        .filter_map(|d| d.certificate.as_ref())
        .any(|c| c.certificate_body_file.is_some() || c.certificate_private_key_file.is_some());
    if !names_files {
        return Ok(text);
    }
    let mut file = GatewayFile::read(path).map_err(|e| e.to_string())?;
    for c in file
        .groups
        .iter_mut()
        .flat_map(|g| g.domains.iter_mut())
        .filter_map(|d| d.certificate.as_mut())
    {
        c.certificate_body_file = None;
        c.certificate_private_key_file = None;
    }
    Ok(file.to_yaml())
}

/// `apigw export`.
pub fn export(a: ExportArgs) -> Result<(), String> {
    let (yaml, drafts_differ, has_private_keys) = match &a.remote.endpoint {
        Some(endpoint) => remote_export(endpoint, &a.remote)?,
        None => {
            let out = Rc::new(Cell::new(None));
            let sink = out.clone();
            local::run(&a.data, move |control| {
                Box::pin(async move {
                    let (file, notes) = apigw_control::apply::export(control)
                        .await
                        .map_err(|e| e.to_string())?;
                    sink.set(Some((
                        file.to_yaml(),
                        notes.drafts_differ,
                        notes.has_private_keys,
                    )));
                    Ok(())
                })
            })?;
            out.take().ok_or("export produced nothing")?
        }
    };
    match &a.output {
        Some(path) => local::write_private(path, &yaml)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => print!("{yaml}"),
    }
    for api in &drafts_differ {
        eprintln!("note: {api} runs an older version than its draft; applying this file deploys the draft");
    }
    if has_private_keys {
        eprintln!("note: the export holds certificates' private keys; keep it private");
    }
    Ok(())
}

fn remote_export(endpoint: &str, r: &RemoteArgs) -> Result<(String, Vec<String>, bool), String> {
    let remote = Remote::new(endpoint, &r.key, r.ca_file.as_deref())?;
    let answer = remote.call("ExportConfiguration", &[], &[])?;
    if !answer.status.is_success() {
        return Err(answer.error());
    }
    let doc = answer.json();
    let yaml = doc["Configuration"]
        .as_str()
        .ok_or_else(|| format!("unexpected answer: {doc}"))?
        .to_string();
    let differ = doc["DraftsDiffer"]["Api"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok((yaml, differ, doc["HasPrivateKeys"] == true))
}
