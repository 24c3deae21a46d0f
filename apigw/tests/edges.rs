//! Edges of the process and the wire: file modes of the data directory, ambiguous `Host`,
//! the HTTP version of the answer, half-closed clients, file descriptor limits.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use support::Gateway;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The data directory holds secrets in plain text: the running gateway narrows a directory
/// and database left world-readable to 0700 and 0600, and writes `serving.json` 0600.
#[test]
fn serve_keeps_the_data_directory_and_its_files_private() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = dir.path().join("apigw.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    let gw = Gateway::start_in(dir);
    let data = gw.dir.path();
    assert_eq!(mode(data), 0o700);
    let serving = data.join("serving.json");
    for _ in 0..100 {
        if serving.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for name in ["apigw.db", "apigw.db-wal", "apigw.db-shm", "serving.json"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    // Nothing else in the directory is readable by others either.
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path) & 0o077, 0, "{}", path.display());
    }
}
