//! The access log, written off the request path: a request hands its [`Entry`] to a bounded
//! channel ([`CAPACITY`] entries) and returns; one writer thread, looking at the channel every
//! 10 ms (never woken by a request), formats each entry as a JSON line and writes it to stdout
//! or to a file rotated by size. When the channel is full (the
//! disk or the reader of stdout is slower than the traffic) the entry is dropped and counted
//! (`apigw_access_log_dropped_total`): a request never waits for the log.

use crate::snapshot::CompiledApi;
use apigw_model::Stage;
use http::header::HeaderValue;
use http::Method;
use prometheus_client::metrics::counter::Counter;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Entries waiting for the writer at most; beyond, new ones are dropped.
pub const CAPACITY: usize = 64 * 1024;

/// Where the lines go.
#[derive(Debug, Clone)]
pub enum Sink {
    /// Standard output, among the other JSON log lines.
    Stdout,
    /// A file of its own, rotated by size: when a line would take it past `max_bytes`, `path`
    /// becomes `path.1` (`path.1` becomes `path.2`, …, keeping `keep` old files) and a new
    /// `path` is started.
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
    },
}

/// What one request leaves in the log; formatted by the writer thread.
pub struct Entry {
    pub time: SystemTime,
    pub request_id: HeaderValue,
    pub client_ip: IpAddr,
    pub method: Method,
    pub path: String,
    pub group: Option<Arc<str>>,
    pub api: Option<Arc<CompiledApi>>,
    pub stage: Option<Stage>,
    pub app_id: Option<i64>,
    pub status: u16,
    pub latency: Duration,
    pub service_latency: Option<Duration>,
    pub error_code: &'static str,
    pub tls: bool,
}

enum Msg {
    Entry(Box<Entry>),
    /// Answered once every entry sent before it is written and flushed.
    Flush(SyncSender<()>),
}

/// The request path's end of the access log.
pub struct AccessLog {
    tx: SyncSender<Msg>,
    dropped: Counter,
}

impl AccessLog {
    /// Opens the sink (a file is created if missing, appended to otherwise) and starts the
    /// writer thread. `dropped` counts the entries the full channel refused.
    pub fn start(sink: Sink, dropped: Counter) -> std::io::Result<AccessLog> {
        AccessLog::with_capacity(sink, dropped, CAPACITY)
    }

    /// Like [`AccessLog::start`] with another channel capacity.
    pub fn with_capacity(
        sink: Sink,
        dropped: Counter,
        capacity: usize,
    ) -> std::io::Result<AccessLog> {
        let out = match sink {
            Sink::Stdout => Output::Stdout(Vec::with_capacity(BATCH)),
            Sink::File {
                path,
                max_bytes,
                keep,
            } => Output::File(Rotating::open(path, max_bytes.max(1), keep)?),
        };
        let (tx, rx) = sync_channel(capacity.max(1));
        std::thread::Builder::new()
            .name("apigw-access-log".into())
            .spawn(move || write_all(rx, out))?;
        Ok(AccessLog { tx, dropped })
    }

    /// Hands `entry` to the writer; drops (and counts) it when the channel is full. Never
    /// blocks.
    pub fn log(&self, entry: Entry) {
        if self.tx.try_send(Msg::Entry(Box::new(entry))).is_err() {
            self.dropped.inc();
        }
    }

    /// Waits (at most `within`) until every entry logged before is written and flushed; false
    /// when that did not happen in time. For shutdown.
    pub fn flush(&self, within: Duration) -> bool {
        flush_queue(&self.tx, Msg::Flush, within)
    }
}

/// Puts a flush request (made by `flush` from the answer's sender) on a writer thread's bounded
/// queue, retrying while the queue is full, then waits for the answer; false when either did
/// not happen within `within`. Shared by the access log and the OTLP exporter (shutdown).
pub(crate) fn flush_queue<M>(
    queue: &SyncSender<M>,
    flush: impl FnOnce(SyncSender<()>) -> M,
    within: Duration,
) -> bool {
    let deadline = Instant::now() + within;
    let (done_tx, done_rx) = sync_channel(1);
    let mut msg = flush(done_tx);
    loop {
        match queue.try_send(msg) {
            Ok(()) => break,
            Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                msg = m;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return false,
        }
    }
    done_rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .is_ok()
}

/// How long the writer sleeps between two looks at the channel. It polls rather than
/// blocking on it, so that a request handing over its entry never wakes the writer (a wake-up
/// is a context switch on the request's core); lines reach the sink within this time.
const POLL: Duration = Duration::from_millis(10);

/// The writer thread: every [`POLL`], takes what is waiting, writes it and flushes; ends once
/// the sending side is gone and everything is written.
fn write_all(rx: Receiver<Msg>, mut out: Output) {
    let mut line = Vec::with_capacity(512);
    let mut failing = false;
    loop {
        let mut flushes = Vec::new();
        let mut taken = 0;
        let closed = loop {
            match rx.try_recv() {
                Ok(Msg::Entry(entry)) => {
                    line.clear();
                    entry.write_json(&mut line);
                    line.push(b'\n');
                    report(out.line(&line), &mut failing);
                    taken += 1;
                }
                Ok(Msg::Flush(done)) => flushes.push(done),
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
            // Under steady traffic, a flush asked for is still answered.
            if taken >= MAX_BATCH {
                break false;
            }
        };
        if taken > 0 || !flushes.is_empty() {
            report(out.flush(), &mut failing);
        }
        for done in flushes {
            let _ = done.send(());
        }
        if closed {
            return;
        }
        if taken < MAX_BATCH {
            std::thread::sleep(POLL);
        }
    }
}

fn report(result: std::io::Result<()>, failing: &mut bool) {
    match result {
        Ok(()) => {
            if std::mem::replace(failing, false) {
                tracing::info!("the access log is written again");
            }
        }
        Err(e) => {
            if !std::mem::replace(failing, true) {
                tracing::warn!("cannot write the access log (lines are lost until it can): {e}");
            }
        }
    }
}

/// Entries the writer takes before it flushes, when more keep coming.
const MAX_BATCH: usize = 4096;

/// Bytes of lines gathered before they are written.
const BATCH: usize = 64 * 1024;

enum Output {
    /// Whole lines waiting; written under one lock of stdout, so that the other log lines
    /// (written whole by the log subscriber) never land inside one.
    Stdout(Vec<u8>),
    File(Rotating),
}

impl Output {
    fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout(lines) => {
                lines.extend_from_slice(line);
                if lines.len() >= BATCH {
                    return self.flush();
                }
                Ok(())
            }
            Output::File(f) => f.line(line),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(lines) => {
                let mut out = std::io::stdout().lock();
                let written = out.write_all(lines).and_then(|()| out.flush());
                lines.clear();
                written
            }
            Output::File(f) => f.file.flush(),
        }
    }
}

/// A file rotated by size: `path`, and `path.1` (the newest old one) … `path.<keep>`.
struct Rotating {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: BufWriter<File>,
    size: u64,
}

impl Rotating {
    fn open(path: PathBuf, max_bytes: u64, keep: usize) -> std::io::Result<Rotating> {
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(Rotating {
            path,
            max_bytes,
            keep,
            file: BufWriter::with_capacity(BATCH, file),
            size,
        })
    }

    fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// `path.<keep-1>` → `path.<keep>`, …, `path` → `path.1`; a new, empty `path`.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let numbered = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.keep == 0 {
            remove_if_there(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                rename_if_there(&numbered(n), &numbered(n + 1))?;
            }
            rename_if_there(&self.path, &numbered(1))?;
        }
        self.file = BufWriter::with_capacity(BATCH, open_append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

fn rename_if_there(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn remove_if_there(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl Entry {
    /// One JSON object (no line break): `timestamp`, `level`, `target` as the other log lines
    /// have them, then the request's fields. No header values, bodies, query strings or
    /// secrets.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use time::format_description::well_known::Rfc3339;
        let api = self.api.as_deref();
        out.push(b'{');
        // Written in place (no text allocated per line); neither value needs escaping.
        key(out, "timestamp");
        out.push(b'"');
        let _ = time::OffsetDateTime::from(self.time).format_into(&mut *out, &Rfc3339);
        out.push(b'"');
        text(out, "level", "INFO");
        text(out, "target", "apigw::access");
        text(out, "request_id", self.request_id.to_str().unwrap_or(""));
        key(out, "client_ip");
        let _ = write!(out, "\"{}\"", self.client_ip);
        text(out, "method", self.method.as_str());
        text(out, "path", &self.path);
        text(out, "group", self.group.as_deref().unwrap_or(""));
        text(out, "api", api.map_or("", |a| &a.api_name));
        text(out, "api_id", api.map_or("", |a| &a.api_id));
        text(out, "stage", self.stage.map_or("", |s| s.as_str()));
        if let Some(app_id) = self.app_id {
            int(out, "app_id", app_id);
        }
        int(out, "status", i64::from(self.status));
        float(out, "latency_ms", self.latency.as_secs_f64() * 1000.0);
        if let Some(d) = self.service_latency {
            float(out, "service_latency_ms", d.as_secs_f64() * 1000.0);
        }
        text(out, "error_code", self.error_code);
        key(out, "tls");
        out.extend_from_slice(if self.tls { b"true" } else { b"false" });
        out.push(b'}');
    }
}

fn key(out: &mut Vec<u8>, name: &str) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn text(out: &mut Vec<u8>, name: &str, value: &str) {
    key(out, name);
    // Escapes quotes, backslashes and control characters; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn int(out: &mut Vec<u8>, name: &str, value: i64) {
    key(out, name);
    let _ = write!(out, "{value}");
}

fn float(out: &mut Vec<u8>, name: &str, value: f64) {
    key(out, name);
    // A number (or `null`, for what JSON cannot write).
    let _ = serde_json::to_writer(&mut *out, &value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            request_id: HeaderValue::from_static("5F2E1C4A-0000-4000-8000-000000000001"),
            client_ip: "127.0.0.1".parse().unwrap(),
            method: Method::GET,
            path: path.into(),
            group: Some("g1".into()),
            api: None,
            stage: Some(Stage::Release),
            app_id: Some(7),
            status: 200,
            latency: Duration::from_micros(1500),
            service_latency: None,
            error_code: "",
            tls: false,
        }
    }

    #[test]
    fn an_entry_is_one_json_object() {
        let mut out = Vec::new();
        entry("/a\"b\n\\c").write_json(&mut out);
        assert!(!out.contains(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["path"], "/a\"b\n\\c");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["target"], "apigw::access");
        assert_eq!(v["request_id"], "5F2E1C4A-0000-4000-8000-000000000001");
        assert_eq!(v["stage"], "RELEASE");
        assert_eq!(v["app_id"], 7);
        assert_eq!(v["status"], 200);
        assert_eq!(v["latency_ms"], 1.5);
        assert_eq!(v["tls"], false);
        assert!(v.get("service_latency_ms").is_none());
    }

    #[test]
    fn a_full_channel_drops_and_counts() {
        let dir = tempfile_dir();
        let path = dir.join("full.log");
        let dropped = Counter::default();
        // A channel of one entry, 1000 sent at once: each is written or counted as dropped
        // (how many of each depends on the writer thread's pace).
        let log = AccessLog::with_capacity(
            Sink::File {
                path: path.clone(),
                max_bytes: u64::MAX,
                keep: 0,
            },
            dropped.clone(),
            1,
        )
        .unwrap();
        for i in 0..1000 {
            log.log(entry(&format!("/{i}")));
        }
        assert!(log.flush(Duration::from_secs(10)));
        let written = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
        assert_eq!(written + dropped.get(), 1000);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn files_rotate_by_size_and_keep_that_many() {
        let dir = tempfile_dir();
        let path = dir.join("access.log");
        let log = AccessLog::start(
            Sink::File {
                path: path.clone(),
                max_bytes: 1000,
                keep: 2,
            },
            Counter::default(),
        )
        .unwrap();
        for i in 0..100 {
            log.log(entry(&format!("/{i}")));
            // One at a time: nothing is dropped.
            assert!(log.flush(Duration::from_secs(10)));
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["access.log", "access.log.1", "access.log.2"]);
        for name in &names {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(text.len() <= 1000, "{name}: {} bytes", text.len());
            for line in text.lines() {
                let _: serde_json::Value = serde_json::from_str(line).unwrap();
            }
        }
        // The newest line is in the current file.
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.contains("\"/99\""), "{current}");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "apigw-access-log-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
