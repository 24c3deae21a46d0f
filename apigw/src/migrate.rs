//! `apigw migrate --to postgres://…`: moves an embedded installation (its data directory) into
//! a cluster's PostgreSQL store, or with `--dry-run` says what it would copy.

use crate::local::open_store;
use crate::DataDir;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The cluster store to copy into (`postgres://user:password@host:port/database`). It must
    /// hold no configuration yet; its schema is created if needed.
    #[arg(long = "to", value_name = "POSTGRES_URL")]
    to: String,
    /// Read both stores and print what would be copied; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The data directory to copy from.
    #[arg(long, env = "APIGW_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

pub fn run(args: MigrateArgs) -> Result<(), String> {
    if !apigw_store::is_postgres_url(&args.to) {
        return Err("--to takes a postgres:// or postgresql:// URL".into());
    }
    let db = args.data_dir.join("apigw.db");
    if !db.exists() {
        return Err(format!(
            "{} holds no apigw store ({} does not exist)",
            args.data_dir.display(),
            db.display()
        ));
    }
    if !args.dry_run && crate::serving::gateway_running(&args.data_dir) {
        return Err(format!(
            "a gateway is serving {}: stop it first, or changes made after the copy would not reach the cluster store",
            args.data_dir.display()
        ));
    }
    let source = DataDir {
        data_dir: args.data_dir.clone(),
        store: None,
    };
    let target = DataDir {
        data_dir: args.data_dir.clone(),
        store: Some(args.to.clone()),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let from = open_store(&source).await?;
        let to = open_store(&target).await?;
        let report = apigw_store::copy_all(from.store.as_ref(), to.store.as_ref(), args.dry_run)
            .await
            .map_err(|e| format!("nothing was copied: {e}"))?;
        let verb = if args.dry_run { "would copy" } else { "copied" };
        println!("{verb} from {} into the {}:", from.place, to.place);
        println!("{report}");
        if args.dry_run {
            println!("dry run: nothing was written");
        } else {
            println!("done: start the nodes with APIGW_STORE_URL set to this database (docs/operations.md, \"Moving an installation into a cluster\")");
        }
        Ok(())
    })
}
