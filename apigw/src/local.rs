//! Commands that change the configuration in the data directory directly.

use crate::location::Location;
use crate::DataDir;
use apigw_control::Control;
use apigw_model::{ApiDefinition, Stage};
use apigw_store::{PostgresStore, Resealed, SqliteStore, Store, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[derive(clap::Args, Clone)]
pub struct ApiArgs {
    /// Group name (or id).
    pub group: String,
    /// API name (or id).
    pub api: String,
    #[command(flatten)]
    pub data: DataDir,
}

#[derive(clap::Args, Clone)]
pub struct StageArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// RELEASE, PRE or TEST.
    pub stage: Stage,
    /// Note recorded with a deployment.
    #[arg(long, default_value = "")]
    pub description: String,
}

#[derive(clap::Args, Clone)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub stage: StageArgs,
    /// The history version to make live (see `apigw history`).
    pub version: String,
}

/// How a listing command prints: lines for people, or one JSON document.
#[derive(clap::ValueEnum, Clone, Copy, Default, PartialEq, Eq, Debug)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(clap::Args, Clone)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// `text` (one line per deployment) or `json` (`{"Deployments": [...]}`).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Prints one JSON document (pretty, parseable as a whole).
pub fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("a JSON value always serialises")
    );
}

pub(crate) type Job<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// Opens the store and runs one command on a small runtime.
///
/// On the embedded store, a command that wrote returns once a gateway running on the same data
/// directory serves the change. On a cluster's PostgreSQL store it returns once the change is
/// committed: the command is not a node, and every node is told at once (LISTEN/NOTIFY).
pub fn run(data: &DataDir, job: impl for<'a> FnOnce(&'a Control) -> Job<'a>) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let cluster = matches!(data.location()?, Location::Postgres(_));
    rt.block_on(async {
        let store = open_store(data).await?.store;
        let control = Control::new(store)
            .with_secret_grace(secret_grace()?)
            .with_group_limit(group_limit()?)
            .with_backend_policy(backend_policy(Vec::new())?);
        job(&control).await?;
        if cluster {
            return Ok(());
        }
        // Read your writes: a gateway running on this data directory serves the change
        // before the command returns.
        let generation = control
            .store()
            .generation()
            .await
            .map_err(|e| e.to_string())?;
        let limit = apigw_control::LIVE_WAIT;
        if !crate::serving::wait_until_served(&data.data_dir, generation, limit).await {
            eprintln!("warning: the change is stored, but the running gateway did not serve it within {limit:?}");
        }
        Ok(())
    })
}

/// Writes a file readable by its owner only (it may hold private keys).
pub(crate) fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

pub fn list(control: &Control, output: Output) -> Job<'_> {
    Box::pin(async move {
        let groups = control
            .store()
            .list_groups()
            .await
            .map_err(|e| e.to_string())?;
        let mut docs = Vec::new();
        for g in groups {
            let domains = control
                .domains(&g.group_id)
                .await
                .map_err(|e| e.to_string())?;
            let names: Vec<&str> = domains.iter().map(|d| d.domain_name.as_str()).collect();
            if output == Output::Text {
                println!(
                    "group {} ({}) base path {} domains [{}]",
                    g.group_name,
                    g.group_id,
                    g.base_path,
                    names.join(", ")
                );
            }
            let mut apis = Vec::new();
            for api in control.apis(&g.group_id).await.map_err(|e| e.to_string())? {
                let history = control
                    .history(&api.api_id, None)
                    .await
                    .map_err(|e| e.to_string())?;
                let online: Vec<_> = history.iter().filter(|d| d.online).collect();
                if output == Output::Text {
                    let live: Vec<String> = online
                        .iter()
                        .map(|d| format!("{}@{}", d.stage_name, d.history_version))
                        .collect();
                    println!(
                        "  api {} ({}) {} {} auth {:?} live [{}]",
                        api.api_name,
                        api.api_id,
                        api.method(),
                        api.request_config.request_path,
                        api.auth_type,
                        live.join(", ")
                    );
                }
                let deployed: Vec<serde_json::Value> = online
                    .iter()
                    .map(|d| serde_json::json!({"StageName": d.stage_name, "HistoryVersion": d.history_version, "DeployedTime": d.deployed_time}))
                    .collect();
                apis.push(serde_json::json!({
                    "ApiId": api.api_id, "ApiName": api.api_name, "HttpMethod": api.method(),
                    "RequestPath": api.request_config.request_path, "AuthType": api.auth_type,
                    "Deployed": deployed,
                }));
            }
            docs.push(serde_json::json!({
                "GroupId": g.group_id, "GroupName": g.group_name, "BasePath": g.base_path,
                "Domains": names, "Apis": apis,
            }));
        }
        if output == Output::Json {
            print_json(&serde_json::json!({ "Groups": docs }));
        }
        Ok(())
    })
}

async fn find_api(control: &Control, args: &ApiArgs) -> Result<ApiDefinition, String> {
    let groups = control
        .store()
        .list_groups()
        .await
        .map_err(|e| e.to_string())?;
    let group = groups
        .iter()
        .find(|g| g.group_name == args.group || g.group_id == args.group)
        .ok_or_else(|| format!("NotFoundApiGroup: no group `{}`", args.group))?;
    let apis = control
        .apis(&group.group_id)
        .await
        .map_err(|e| e.to_string())?;
    apis.into_iter()
        .find(|a| a.api_name == args.api || a.api_id == args.api)
        .ok_or_else(|| {
            format!(
                "NotFoundApi: no API `{}` in group `{}`",
                args.api, args.group
            )
        })
}

pub fn deploy(control: &Control, a: StageArgs) -> Job<'_> {
    Box::pin(async move {
        let api = find_api(control, &a.api).await?;
        let d = control
            .deploy(&api.api_id, a.stage, &a.description)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "deployed {} to {} (version {})",
            api.api_name, a.stage, d.history_version
        );
        Ok(())
    })
}

pub fn abolish(control: &Control, a: StageArgs) -> Job<'_> {
    Box::pin(async move {
        let api = find_api(control, &a.api).await?;
        control
            .abolish(&api.api_id, a.stage)
            .await
            .map_err(|e| e.to_string())?;
        println!("abolished {} from {}", api.api_name, a.stage);
        Ok(())
    })
}

pub fn history(control: &Control, a: HistoryArgs) -> Job<'_> {
    Box::pin(async move {
        let api = find_api(control, &a.api).await?;
        let history = control
            .history(&api.api_id, None)
            .await
            .map_err(|e| e.to_string())?;
        if a.output == Output::Json {
            let items: Vec<serde_json::Value> = history
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "StageName": d.stage_name, "HistoryVersion": d.history_version,
                        "Status": if d.online { "ONLINE" } else { "OFFLINE" },
                        "DeployedTime": d.deployed_time,
                        "RequestPath": d.definition.request_config.request_path,
                        "Description": d.description,
                    })
                })
                .collect();
            print_json(&serde_json::json!({
                "GroupId": api.group_id, "ApiId": api.api_id, "ApiName": api.api_name,
                "Deployments": items,
            }));
            return Ok(());
        }
        for d in history {
            let status = if d.online { "ONLINE" } else { "OFFLINE" };
            println!(
                "{} {} {} {} {} {}",
                d.stage_name,
                d.history_version,
                status,
                d.deployed_time,
                d.definition.request_config.request_path,
                d.description
            );
        }
        Ok(())
    })
}

pub fn rollback(control: &Control, a: RollbackArgs) -> Job<'_> {
    Box::pin(async move {
        let api = find_api(control, &a.stage.api).await?;
        control
            .switch_version(&api.api_id, a.stage.stage, &a.version)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "{} in {} is now version {}",
            api.api_name, a.stage.stage, a.version
        );
        Ok(())
    })
}

/// An open store ([`open_store`]).
pub struct OpenStore {
    pub store: Arc<dyn Store>,
    /// Where it is, for messages: the data directory, or the PostgreSQL database (without
    /// credentials).
    pub place: String,
    /// The id of the master key secrets are sealed with; `None`: they are stored unencrypted.
    pub key_id: Option<String>,
}

/// Opens the store — the embedded one in the data directory, or the cluster's PostgreSQL
/// database when `--store` / `APIGW_STORE_URL` names one — with the master keys of the
/// environment ([`secret_box`]), saying what opening it rewrote. A store sealed with another
/// key is refused with the key id and what to do.
pub async fn open_store(data: &DataDir) -> Result<OpenStore, String> {
    let secrets = secret_box()?;
    let refused = |place: String| {
        move |e: StoreError| {
            match e {
            StoreError::MasterKey(m) => format!(
                "{place}: {m}. Start with the key of that id as {MASTER_KEY} (or {MASTER_KEY}_FILE); \
                 to change keys, give the old one as {MASTER_KEY}_PREVIOUS as well \
                 (docs/operations.md, \"Secrets at rest\")"
            ),
            e => e.to_string(),
        }
        }
    };
    let (opened, done, cluster) = match data.location()? {
        Location::Dir(dir) => {
            let s = SqliteStore::open_with(dir, secrets)
                .map_err(refused(dir.join("apigw.db").display().to_string()))?;
            let opened = OpenStore {
                place: dir.display().to_string(),
                key_id: s.key_id().map(str::to_string),
                store: Arc::new(s.clone()),
            };
            (opened, s.resealed(), false)
        }
        Location::Postgres(url) => {
            let s = PostgresStore::connect_with(url, secrets)
                .await
                .map_err(refused(
                    "the PostgreSQL store (--store / APIGW_STORE_URL)".to_string(),
                ))?;
            let opened = OpenStore {
                place: s.location().to_string(),
                key_id: s.key_id().map(str::to_string),
                store: Arc::new(s.clone()),
            };
            (opened, s.resealed(), true)
        }
    };
    report_resealed(done, opened.key_id.as_deref().unwrap_or_default(), cluster);
    Ok(opened)
}

/// Tells the operator what opening the store rewrote.
fn report_resealed(done: Resealed, id: &str, cluster: bool) {
    let nodes = if cluster {
        " once every node runs with it"
    } else {
        ""
    };
    if done.sealed > 0 {
        note(&format!(
            "sealed {} plain secret(s) in the store with master key id {id}",
            done.sealed
        ));
    }
    if done.rekeyed > 0 {
        note(&format!(
            "sealed {} secret(s) again with master key id {id} (they were sealed with the previous key); the previous key is no longer needed{nodes}",
            done.rekeyed
        ));
    }
    if done.unsealed > 0 {
        note(&format!(
            "stored {} secret(s) unencrypted (they were sealed with the previous key and {MASTER_KEY} is not set)",
            done.unsealed
        ));
    }
}

const MASTER_KEY: &str = "APIGW_MASTER_KEY";

/// The master keys: `APIGW_MASTER_KEY` (or `APIGW_MASTER_KEY_FILE`) seals the secrets in the
/// store, `APIGW_MASTER_KEY_PREVIOUS` (or `_PREVIOUS_FILE`) opens those sealed before a
/// rotation. Neither set: secrets are stored unencrypted.
pub fn secret_box() -> Result<apigw_store::SecretBox, String> {
    let current = master_key(MASTER_KEY)?;
    let previous = master_key(&format!("{MASTER_KEY}_PREVIOUS"))?;
    Ok(apigw_store::SecretBox::new(current, previous))
}

/// One key from `var` (the key as 64 hex digits or base64) or from the file `<var>_FILE`
/// names (the same text). A file group or others may read is used, with a warning.
fn master_key(var: &str) -> Result<Option<apigw_store::MasterKey>, String> {
    use apigw_store::MasterKey;
    let file_var = format!("{var}_FILE");
    match (std::env::var_os(var), std::env::var_os(&file_var)) {
        (Some(_), Some(_)) => Err(format!("set {var} or {file_var}, not both")),
        (None, None) => Ok(None),
        (Some(text), None) => {
            let text = text
                .into_string()
                .map_err(|_| format!("{var} is not UTF-8 text"))?;
            MasterKey::parse(&text)
                .map(Some)
                .map_err(|e| format!("{var} {e}"))
        }
        (None, Some(path)) => {
            use std::os::unix::fs::PermissionsExt;
            let path = std::path::PathBuf::from(path);
            if path.as_os_str().is_empty() {
                return Err(format!("{file_var} is empty"));
            }
            let unreadable =
                |e: std::io::Error| format!("{file_var}: cannot read {}: {e}", path.display());
            let mode = std::fs::metadata(&path)
                .map_err(unreadable)?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                warn(&format!(
                    "{file_var}: {} has mode {:04o}: group or others may read the master key (chmod 600 it)",
                    path.display(),
                    mode & 0o7777
                ));
            }
            let text = std::fs::read_to_string(&path).map_err(unreadable)?;
            MasterKey::parse(&text)
                .map(Some)
                .map_err(|e| format!("{file_var}: the key in {} {e}", path.display()))
        }
    }
}

/// A line for the operator: logged by the gateway, on stderr in a CLI command.
fn note(line: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::info!(target: "apigw::config", "{line}");
    } else {
        eprintln!("note: {line}");
    }
}

fn warn(line: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!(target: "apigw::config", "{line}");
    } else {
        eprintln!("warning: {line}");
    }
}

/// `APIGW_APP_SECRET_GRACE_SECONDS`: how long a reset secret keeps working (default 24 h).
pub fn secret_grace() -> Result<std::time::Duration, String> {
    match std::env::var("APIGW_APP_SECRET_GRACE_SECONDS") {
        Err(_) => Ok(apigw_control::DEFAULT_SECRET_GRACE),
        Ok(v) => v
            .trim()
            .parse()
            .map(std::time::Duration::from_secs)
            .map_err(|_| {
                format!("APIGW_APP_SECRET_GRACE_SECONDS: `{v}` is not a number of seconds")
            }),
    }
}

/// `APIGW_MAX_GROUPS`: most groups an account may own (default 100).
/// `APIGW_BACKEND_ALLOW` / `APIGW_BACKEND_DENY` (comma-separated CIDR blocks) and the
/// gateway's own listener addresses: which backend addresses APIs may name.
pub fn backend_policy(
    own: Vec<std::net::SocketAddr>,
) -> Result<apigw_model::backend_address::BackendPolicy, String> {
    use apigw_model::backend_address::{parse_cidrs, BackendPolicy};
    let list = |name: &str| {
        parse_cidrs(&std::env::var(name).unwrap_or_default()).map_err(|e| format!("{name}: {e}"))
    };
    Ok(BackendPolicy {
        allow: list("APIGW_BACKEND_ALLOW")?,
        deny: list("APIGW_BACKEND_DENY")?,
        own,
    })
}

pub fn group_limit() -> Result<usize, String> {
    match std::env::var("APIGW_MAX_GROUPS") {
        Err(_) => Ok(apigw_control::DEFAULT_MAX_GROUPS),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("APIGW_MAX_GROUPS: `{v}` is not a number")),
    }
}

#[derive(clap::Subcommand)]
pub enum AppCommand {
    /// List apps with their AppKeys, AppCodes and grants (secrets are not shown).
    List {
        /// `text` or `json` (`{"Apps": [...]}`).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
        #[command(flatten)]
        data: DataDir,
    },
    /// Give an AppKey a new secret. The old one keeps working for
    /// APIGW_APP_SECRET_GRACE_SECONDS (default 86400), so callers can roll over.
    ResetSecret {
        /// The AppKey whose secret changes.
        app_key: String,
        /// The new secret (generated when left out; printed once).
        #[arg(long)]
        new_secret: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
}

impl AppCommand {
    pub fn data(&self) -> &DataDir {
        match self {
            AppCommand::List { data, .. } | AppCommand::ResetSecret { data, .. } => data,
        }
    }
}

pub fn app(control: &Control, cmd: AppCommand) -> Job<'_> {
    Box::pin(async move {
        match cmd {
            AppCommand::List { output, .. } => {
                let grants = control.authorizations().await.map_err(|e| e.to_string())?;
                let apps = control.apps().await.map_err(|e| e.to_string())?;
                if output == Output::Json {
                    print_json(&apps_json(&apps, &grants));
                    return Ok(());
                }
                for app in apps {
                    let keys: Vec<&str> = app.keys.iter().map(|k| k.app_key.as_str()).collect();
                    println!(
                        "{} (AppId {}){}: AppKeys {}, {} AppCode(s)",
                        app.app_name,
                        app.app_id,
                        if app.disabled { " disabled" } else { "" },
                        keys.join(", "),
                        app.app_codes.len()
                    );
                    for g in grants.iter().filter(|g| g.app_id == app.app_id) {
                        println!(
                            "  may call API {} in {}{}",
                            g.api_id,
                            g.stage_name,
                            g.auth_valid_time
                                .as_deref()
                                .map(|t| format!(" until {t}"))
                                .unwrap_or_default()
                        );
                    }
                }
                Ok(())
            }
            AppCommand::ResetSecret {
                app_key,
                new_secret,
                ..
            } => {
                let chosen = new_secret.is_some();
                let pair = control
                    .reset_app_secret(&app_key, new_secret)
                    .await
                    .map_err(|e| e.to_string())?;
                if !chosen {
                    println!("new AppSecret of {app_key}: {}", pair.app_secret);
                }
                match pair.previous_secret_valid_until {
                    Some(until) => println!(
                        "the previous secret stays valid for {} s",
                        (until - now_ms()).max(0) / 1000
                    ),
                    None => println!("the previous secret is no longer valid"),
                }
                Ok(())
            }
        }
    })
}

/// `{"Apps": [...]}`: each app with its AppKeys (no secrets), how many AppCodes, its grants.
fn apps_json(
    apps: &[apigw_model::App],
    grants: &[apigw_model::Authorization],
) -> serde_json::Value {
    let items: Vec<serde_json::Value> = apps
        .iter()
        .map(|app| {
            let keys: Vec<&str> = app.keys.iter().map(|k| k.app_key.as_str()).collect();
            let granted: Vec<serde_json::Value> = grants
                .iter()
                .filter(|g| g.app_id == app.app_id)
                .map(|g| serde_json::json!({"ApiId": g.api_id, "StageName": g.stage_name, "AuthValidTime": g.auth_valid_time}))
                .collect();
            serde_json::json!({
                "AppId": app.app_id, "AppName": app.app_name, "Disabled": app.disabled,
                "AppKeys": keys, "AppCodeCount": app.app_codes.len(), "Authorizations": granted,
            })
        })
        .collect();
    serde_json::json!({ "Apps": items })
}

/// `{"Accounts": [...]}`: each account with its AccessKey ids (no secrets).
fn accounts_json(accounts: &[i64], keys: &[apigw_model::AccessKey]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = accounts
        .iter()
        .map(|a| {
            let mine: Vec<serde_json::Value> = keys
                .iter()
                .filter(|k| k.account_id == *a)
                .map(
                    |k| serde_json::json!({"AccessKeyId": k.access_key_id, "Disabled": k.disabled}),
                )
                .collect();
            serde_json::json!({
                "AccountId": a, "Root": *a == apigw_model::account::ROOT_ACCOUNT_ID,
                "AccessKeys": mine,
            })
        })
        .collect();
    serde_json::json!({ "Accounts": items })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(clap::Subcommand)]
pub enum AccountCommand {
    /// Create an account with one AccessKey (printed once). The account sees and changes only
    /// what it creates through the management API.
    Create {
        #[command(flatten)]
        data: DataDir,
    },
    /// Add an AccessKey to an account (printed once).
    AddKey {
        /// The account number (`apigw account list`).
        account_id: i64,
        #[command(flatten)]
        data: DataDir,
    },
    /// Disable an AccessKey (calls signed with it get `InvalidAccessKeyId.Inactive`).
    DisableKey {
        access_key_id: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Enable a disabled AccessKey again.
    EnableKey {
        access_key_id: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List accounts and their AccessKeys (secrets are not shown).
    List {
        /// `text` or `json` (`{"Accounts": [...]}`).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
        #[command(flatten)]
        data: DataDir,
    },
}

impl AccountCommand {
    pub fn data(&self) -> &DataDir {
        match self {
            AccountCommand::Create { data }
            | AccountCommand::AddKey { data, .. }
            | AccountCommand::DisableKey { data, .. }
            | AccountCommand::EnableKey { data, .. }
            | AccountCommand::List { data, .. } => data,
        }
    }
}

fn random_text(n: usize, alphabet: &[u8]) -> String {
    apigw_control::random_token(n, alphabet)
}

fn new_key(account_id: i64) -> apigw_model::AccessKey {
    apigw_model::AccessKey {
        access_key_id: format!(
            "LTAI{}",
            random_text(
                20,
                b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
            )
        ),
        access_key_secret: random_text(
            30,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        ),
        account_id,
        disabled: false,
        created_time: apigw_control::now_utc(),
    }
}

pub fn account(control: &Control, cmd: AccountCommand) -> Job<'_> {
    Box::pin(async move {
        let store = control.store();
        let keys = store.list_access_keys().await.map_err(|e| e.to_string())?;
        match cmd {
            AccountCommand::Create { .. } | AccountCommand::AddKey { .. } => {
                let account_id = match cmd {
                    AccountCommand::AddKey { account_id, .. } => {
                        if !keys.iter().any(|k| k.account_id == account_id) {
                            return Err(format!("no account {account_id}"));
                        }
                        account_id
                    }
                    _ => loop {
                        let id = 1_000_000_000_000_000
                            + (random_text(15, b"0123456789").parse::<i64>().unwrap_or(0));
                        if !keys.iter().any(|k| k.account_id == id) {
                            break id;
                        }
                    },
                };
                let key = new_key(account_id);
                store
                    .put_access_key(&key)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("account {account_id}");
                println!("AccessKeyId {}", key.access_key_id);
                println!("AccessKeySecret {}  (shown once)", key.access_key_secret);
                Ok(())
            }
            AccountCommand::DisableKey { access_key_id, .. } => {
                set_disabled(store.as_ref(), keys, &access_key_id, true).await
            }
            AccountCommand::EnableKey { access_key_id, .. } => {
                set_disabled(store.as_ref(), keys, &access_key_id, false).await
            }
            AccountCommand::List { output, .. } => {
                let mut accounts: Vec<i64> = keys.iter().map(|k| k.account_id).collect();
                accounts.sort();
                accounts.dedup();
                if output == Output::Json {
                    print_json(&accounts_json(&accounts, &keys));
                    return Ok(());
                }
                for a in accounts {
                    let root = if a == apigw_model::account::ROOT_ACCOUNT_ID {
                        " (root)"
                    } else {
                        ""
                    };
                    println!("account {a}{root}");
                    for k in keys.iter().filter(|k| k.account_id == a) {
                        println!(
                            "  {}{}",
                            k.access_key_id,
                            if k.disabled { " disabled" } else { "" }
                        );
                    }
                }
                Ok(())
            }
        }
    })
}

async fn set_disabled(
    store: &dyn apigw_store::Store,
    keys: Vec<apigw_model::AccessKey>,
    id: &str,
    disabled: bool,
) -> Result<(), String> {
    let mut key = keys
        .into_iter()
        .find(|k| k.access_key_id == id)
        .ok_or_else(|| format!("no AccessKey {id}"))?;
    key.disabled = disabled;
    store
        .put_access_key(&key)
        .await
        .map_err(|e| e.to_string())?;
    println!("{id} {}", if disabled { "disabled" } else { "enabled" });
    Ok(())
}
