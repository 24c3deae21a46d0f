//! gzip is applied as the response flows: a large body is compressed with bounded memory, and
//! a body of unknown length is compressed only past the 2 KB minimum.

mod support;

use std::io::Read;
use support::{send, Gateway};

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_is_compressed_as_it_flows() {
    let backend = support::backend().await;
    let gw = Gateway::start(&format!(
        r#"
Groups:
  - GroupName: gzip_stream
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: files
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/files/*"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/*", ServiceTimeout: 30000}}
        DeployTo: [RELEASE]
"#
    ));
    let pid = gw.child.as_ref().unwrap().id();
    let gz = [("accept-encoding", "gzip")];
    // Warm up (pools, buffers), then take the peak so far.
    let r = send(
        gw.http,
        "GET",
        "localhost",
        "/files/big/100000?ct=application%2Fjson",
        &gz,
        b"",
    )
    .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let before = peak_rss_kib(pid);

    for path in [
        "/files/big/50000000?ct=application%2Fjson",
        "/files/chunked/50000000?ct=text%2Fplain",
    ] {
        let r = send(gw.http, "GET", "localhost", path, &gz, b"").await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(r.header("content-length"), None, "{path}: streamed");
        let mut n = 0u64;
        let mut decoder = flate2::read::GzDecoder::new(&r.body[..]);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = decoder.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            assert!(buf[..k].iter().all(|b| *b == b'a'));
            n += k as u64;
        }
        assert_eq!(n, 50_000_000, "{path}");
    }
    let grown = peak_rss_kib(pid).saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "peak RSS grew by {grown} KiB for 50 MB bodies (the body was buffered)"
    );
}
