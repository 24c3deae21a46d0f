//! Keeps the live snapshot in step with the store: compiles a new one off the request path
//! whenever the store's generation moves (a write in this process is signalled at once, and so
//! is one on another node of a cluster when the store pushes changes — `Store::listen`; others
//! are seen at the next poll) and swaps it in atomically.

use crate::snapshot::Snapshot;
use crate::Shared;
use apigw_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Loads and compiles the live configuration, then swaps it in.
pub async fn load(store: &dyn Store, shared: &Arc<Shared>) -> Result<(), StoreError> {
    let live = store.load_live().await?;
    let for_compile = shared.clone();
    let snap = tokio::task::spawn_blocking(move || {
        let previous = for_compile.snapshot.load_full();
        Snapshot::recompile(&previous, &live, &for_compile.config)
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("compiling the configuration failed: {e}")))?;
    for w in &snap.warnings {
        tracing::warn!(target: "apigw::config", "{w}");
    }
    tracing::info!(target: "apigw::config", generation = snap.generation, apis = snap.api_count(), "configuration live");
    shared.publish(snap);
    Ok(())
}

/// Runs until `shutdown` turns true.
pub async fn watch(
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    changed: Arc<Notify>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
        let result = match store.generation().await {
            Ok(g) if g == shared.snapshot.load().generation => Ok(()),
            Ok(_) => load(store.as_ref(), &shared).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            shared.metrics.config_reload_failures.inc();
        }
        match result {
            Err(e) if !failing => {
                tracing::error!(target: "apigw::config", "cannot refresh the configuration, serving the last one: {e}");
                failing = true;
            }
            Err(_) => {}
            Ok(()) => failing = false,
        }
    }
}
