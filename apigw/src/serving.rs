//! Read-your-writes across processes on one data directory: `apigw serve` records in
//! `<data dir>/serving.json` the process id and the configuration generation it serves;
//! a CLI command that wrote to the store (`apigw apply`, `deploy`, …) waits until the running
//! gateway serves at least the store's generation before it returns.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const FILE: &str = "serving.json";

#[derive(Serialize, Deserialize)]
struct Serving {
    pid: u32,
    generation: u64,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Keeps `<dir>/serving.json` in step with `live` until `stop` turns true, then removes it.
pub async fn record(dir: PathBuf, mut live: watch::Receiver<u64>, mut stop: watch::Receiver<bool>) {
    loop {
        let generation = *live.borrow_and_update();
        if let Err(e) = write(&dir, generation) {
            tracing::warn!(target: "apigw::config", "cannot write {}: {e}", path(&dir).display());
        }
        tokio::select! {
            changed = live.changed() => if changed.is_err() { break },
            _ = stop.changed() => break,
        }
    }
    let _ = std::fs::remove_file(path(&dir));
}

/// Written to a temporary file and renamed, so a reader never sees half a file; mode `0600`
/// like every file of the data directory.
fn write(dir: &Path, generation: u64) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let body = serde_json::to_vec(&Serving {
        pid: std::process::id(),
        generation,
    })?;
    let tmp = dir.join(format!("{FILE}.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(apigw_store::PRIVATE_FILE)
        .open(&tmp)?;
    // A leftover temporary file of an earlier process with this id keeps its mode otherwise.
    apigw_store::restrict(&tmp, apigw_store::PRIVATE_FILE)?;
    file.write_all(&body)?;
    drop(file);
    std::fs::rename(tmp, path(dir))
}

/// The generation a live gateway on `dir` serves; `None` when none runs.
fn served(dir: &Path) -> Option<u64> {
    let s: Serving = serde_json::from_slice(&std::fs::read(path(dir)).ok()?).ok()?;
    Path::new(&format!("/proc/{}", s.pid))
        .exists()
        .then_some(s.generation)
}

/// Whether a gateway is running on `dir` (it keeps `serving.json` there).
pub fn gateway_running(dir: &Path) -> bool {
    served(dir).is_some()
}

/// Waits (at most `limit`) until a gateway running on `dir` serves `generation`. Returns
/// false when one runs and did not get there in time.
pub async fn wait_until_served(dir: &Path, generation: u64, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        match served(dir) {
            None => return true,
            Some(g) if g >= generation => return true,
            Some(_) if start.elapsed() >= limit => return false,
            Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}
