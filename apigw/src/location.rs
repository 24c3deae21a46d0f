//! Where the configuration is: the embedded store in the data directory, or a PostgreSQL
//! database shared by the nodes of a cluster (`--store` / `APIGW_STORE_URL`).

use crate::DataDir;
use apigw_store::{PostgresStore, SqliteStore, Store};
use std::path::Path;
use std::sync::Arc;

/// The store a command opens.
pub enum Location<'a> {
    Dir(&'a Path),
    Postgres(&'a str),
}

impl DataDir {
    /// The embedded store unless `--store` (or `APIGW_STORE_URL`) names a PostgreSQL database.
    pub fn location(&self) -> Result<Location<'_>, String> {
        match self.store.as_deref().map(str::trim) {
            None | Some("") => Ok(Location::Dir(&self.data_dir)),
            Some(url) if apigw_store::is_postgres_url(url) => Ok(Location::Postgres(url)),
            Some(_) => Err(
                "--store (APIGW_STORE_URL) takes a postgres:// or postgresql:// URL; leave it out to keep the configuration in --data-dir".into(),
            ),
        }
    }

    /// Opens the store (creating or upgrading its schema), with a message that says which
    /// and why when it cannot be used.
    pub async fn open(&self) -> Result<(Arc<dyn Store>, String), String> {
        match self.location()? {
            Location::Dir(dir) => {
                let store = SqliteStore::open(dir).map_err(|e| e.to_string())?;
                Ok((Arc::new(store), dir.display().to_string()))
            }
            Location::Postgres(url) => {
                let store = PostgresStore::connect(url)
                    .await
                    .map_err(|e| e.to_string())?;
                let place = store.location().to_string();
                Ok((Arc::new(store), place))
            }
        }
    }
}
