//! A PostgreSQL database of its own for one test (or bench run): created on the server of
//! `APIGW_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
//! dropped when the guard is dropped, also when the test fails. Databases left by a test
//! process that was killed are dropped by the next one after an hour.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_postgres::NoTls;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX: &str = "apigw_test_";
/// Test databases older than this are taken as left behind.
const STALE: Duration = Duration::from_secs(3600);

/// `apigw_test_<seconds>_<random>` on the test server; dropped with the guard.
pub struct TestDatabase {
    name: String,
    admin_url: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database. Panics with a readable message when the server cannot be
    /// reached (the tests that need PostgreSQL need it; `.ci/run` starts it).
    pub fn create() -> TestDatabase {
        let admin_url = std::env::var("APIGW_TEST_POSTGRES_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_string());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let name = format!("{PREFIX}{now}_{:08x}", fastrand::u32(..));
        let stale_before = now.saturating_sub(STALE.as_secs());
        let create = format!("CREATE DATABASE {name}");
        let result = admin(&admin_url, move |client| {
            Box::pin(async move {
                // Left behind by killed test processes.
                let rows = client
                    .query(
                        "SELECT datname FROM pg_database WHERE datname LIKE 'apigw\\_test\\_%'",
                        &[],
                    )
                    .await?;
                for row in rows {
                    let old: String = row.get(0);
                    let made = old
                        .strip_prefix(PREFIX)
                        .and_then(|rest| rest.split('_').next())
                        .and_then(|s| s.parse::<u64>().ok());
                    if made.is_some_and(|t| t < stale_before) {
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)"))
                            .await;
                    }
                }
                client.batch_execute(&create).await
            })
        });
        if let Err(e) = result {
            panic!("cannot create a test database with {admin_url} (is PostgreSQL running? `.ci/run` starts it; APIGW_TEST_POSTGRES_URL chooses another server): {e}");
        }
        let url = with_database(&admin_url, &name);
        TestDatabase {
            name,
            admin_url,
            url,
        }
    }

    /// The URL of the database (for `--store` / `APIGW_STORE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let drop_db = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.admin_url, move |client| {
            Box::pin(async move { client.batch_execute(&drop_db).await })
        }) {
            eprintln!("warning: cannot drop test database {}: {e}", self.name);
        }
    }
}

type AdminJob = Box<
    dyn for<'a> FnOnce(
            &'a tokio_postgres::Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a>,
        > + Send,
>;

/// Runs `job` on a connection to `url`, on a thread and runtime of its own (so that it works
/// in `Drop`, inside or outside a runtime).
fn admin<F>(url: &str, job: F) -> Result<(), String>
where
    F: for<'a> FnOnce(
            &'a tokio_postgres::Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a>,
        > + Send
        + 'static,
{
    let url = url.to_string();
    let job: AdminJob = Box::new(job);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls)
                .await
                .map_err(|e| error_text(&e))?;
            let driver = tokio::spawn(connection);
            let out = job(&client).await.map_err(|e| error_text(&e));
            drop(client);
            let _ = driver.await;
            out
        })
    })
    .join()
    .map_err(|_| "the database thread panicked".to_string())?
}

fn error_text(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_is_replaced() {
        use super::with_database as w;
        assert_eq!(
            w("postgres://u@h:5432/postgres", "t"),
            "postgres://u@h:5432/t"
        );
        assert_eq!(w("postgres://u@h", "t"), "postgres://u@h/t");
        assert_eq!(
            w("postgresql://u:p@h/db?connect_timeout=5", "t"),
            "postgresql://u:p@h/t?connect_timeout=5"
        );
    }
}
