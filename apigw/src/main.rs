//! `apigw`: the gateway binary. `apigw serve` runs it; the other commands change its
//! configuration in the data directory, or in the cluster's PostgreSQL database with `--store`
//! (a running gateway picks the change up by itself), or — `admin`, and `apply`, `diff`,
//! `export` with `--endpoint` — through the management API of a running gateway. Exit codes:
//! docs/cli.md.

mod admin;
mod admin_cli;
mod call;
mod console;
mod declarative;
mod demo;
mod local;
mod location;
mod migrate;
mod monitor;
mod remote;
mod serve;
mod serve_config;
mod serving;

use clap::{Parser, Subcommand};

/// mimalloc serves the proxy's many small, short-lived allocations faster than glibc's malloc
/// (measured: bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "apigw",
    version,
    about = "A self-hosted API gateway compatible with Alibaba Cloud API Gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct DataDir {
    /// Where the embedded store keeps its database.
    #[arg(long, env = "APIGW_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// Keep the configuration in PostgreSQL instead of the data directory
    /// (`postgres://user:password@host:port/database`): the nodes of a cluster share it.
    #[arg(
        long = "store",
        env = "APIGW_STORE_URL",
        global = true,
        hide_env_values = true
    )]
    store: Option<String>,
}

#[derive(Subcommand)]
// Parsed once at start-up: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the gateway: data plane (HTTP and HTTPS) and admin listener.
    Serve(serve::ServeArgs),
    /// Create or update groups, domains, APIs, apps and plugins from a declarative YAML file
    /// (and deploy them); with `--prune`, delete what it does not list. One transaction.
    Apply(declarative::ApplyArgs),
    /// Show what `apply` would change, writing nothing. Exits 0 when nothing would change, 1
    /// when something would, 2 on error.
    Diff(declarative::DiffArgs),
    /// Write the whole configuration as a file `apigw apply` accepts (drafts, and `DeployTo`
    /// with the stages where each API is live). Certificates' private keys are included.
    Export(declarative::ExportArgs),
    /// List groups, their domains and APIs, and where each API is deployed.
    Apis {
        /// `text` or `json` (`{"Groups": [...]}`).
        #[arg(long, value_enum, default_value_t = local::Output::Text)]
        output: local::Output,
        #[command(flatten)]
        data: DataDir,
    },
    /// Deploy an API's current definition to a stage.
    Deploy(local::StageArgs),
    /// Take an API out of a stage.
    Abolish(local::StageArgs),
    /// Show an API's deployment history.
    History(local::HistoryArgs),
    /// Make an earlier deployment of an API live again in a stage.
    Rollback(local::RollbackArgs),
    /// Send a request signed like the official SDKs (APP signature or AppCode) and print the
    /// response. Exits 1 when the status is 400 or above.
    Call(Box<call::CallArgs>),
    /// Call a management API action on a running gateway (V3-signed, like the Tea SDK) and
    /// print the JSON: `apigw admin CreateApiGroup --GroupName shop`.
    Admin(admin_cli::AdminArgs),
    /// Copy an embedded installation (its data directory) into a cluster's PostgreSQL store:
    /// `apigw migrate --to postgres://… [--dry-run]`.
    Migrate(migrate::MigrateArgs),
    /// Accounts and AccessKeys of the management API.
    #[command(subcommand)]
    Account(local::AccountCommand),
    /// Apps: list them, or rotate a secret.
    #[command(subcommand)]
    App(local::AppCommand),
}

fn main() -> ExitCode {
    let args = match serve_config::expand(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Apply(a) => declarative::apply(a),
        Command::Diff(a) => return declarative::diff(a),
        Command::Export(a) => declarative::export(a),
        Command::Apis { output, data } => local::run(&data, |c| local::list(c, output)),
        Command::Deploy(a) => local::run(&a.api.data.clone(), |c| local::deploy(c, a)),
        Command::Abolish(a) => local::run(&a.api.data.clone(), |c| local::abolish(c, a)),
        Command::History(a) => local::run(&a.api.data.clone(), |c| local::history(c, a)),
        Command::Rollback(a) => local::run(&a.stage.api.data.clone(), |c| local::rollback(c, a)),
        Command::Migrate(a) => migrate::run(a),
        Command::Account(cmd) => {
            let data = cmd.data().clone();
            local::run(&data, |c| local::account(c, cmd))
        }
        Command::App(cmd) => {
            let data = cmd.data().clone();
            local::run(&data, |c| local::app(c, cmd))
        }
        Command::Admin(a) => return admin_cli::run(a),
        Command::Call(a) => match call::run(*a) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
