//! Where the configuration is: the embedded store in the data directory, or a PostgreSQL
//! database shared by the nodes of a cluster (`--store` / `APIGW_STORE_URL`).

//! [`crate::local::open_store`] opens it, with the master keys.

use crate::DataDir;
use std::path::Path;

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
}
