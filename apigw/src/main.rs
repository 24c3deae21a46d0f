//! `apigw`: the gateway binary. `apigw serve` runs it; the other commands change its
//! configuration in the data directory, or in the cluster's PostgreSQL database with `--store`
//! (a running gateway picks the change up by itself).

mod admin;
mod admin_cli;
mod call;
mod console;
mod demo;
mod local;
mod location;
mod migrate;
mod monitor;
mod serve;
mod serve_config;
mod serving;

use clap::{Parser, Subcommand};
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
    /// Create or update groups, domains and APIs from a declarative YAML file (and deploy them).
    Apply {
        /// The file (see docs/configuration.md).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
    /// Write the whole configuration as a file `apigw apply` accepts (drafts, and `DeployTo`
    /// with the stages where each API is live). Certificates' private keys are included.
    Export {
        /// Write to this file instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List groups, their domains and APIs, and where each API is deployed.
    Apis {
        #[command(flatten)]
        data: DataDir,
    },
    /// Deploy an API's current definition to a stage.
    Deploy(local::StageArgs),
    /// Take an API out of a stage.
    Abolish(local::StageArgs),
    /// Show an API's deployment history.
    History(local::ApiArgs),
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
        Command::Apply { file, data } => local::run(&data, |c| local::apply(c, file)),
        Command::Export { output, data } => local::run(&data, |c| local::export(c, output)),
        Command::Apis { data } => local::run(&data, local::list),
        Command::Deploy(a) => local::run(&a.api.data.clone(), |c| local::deploy(c, a)),
        Command::Abolish(a) => local::run(&a.api.data.clone(), |c| local::abolish(c, a)),
        Command::History(a) => local::run(&a.data.clone(), |c| local::history(c, a)),
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
        Command::Admin(a) => match admin_cli::run(a) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
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
