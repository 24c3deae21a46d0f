//! WebSocket through the gateway, over real sockets: the upgrade request runs the pipeline
//! (authentication applies), frames flow both ways between a real client and a real echo
//! backend (`tokio-tungstenite`), and a custom domain takes upgrades only while
//! `SetDomainWebSocketStatus` (official Tea SDK) has it open.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use support::{mgmt_call, Gateway};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const AK: (&str, &str) = ("wsadmin", "wssecret-0001");
const APP_CODE: &str = "wsappcode0000001";

/// What the echo backend saw of one upgrade: its request headers, and the close frame.
#[derive(Debug)]
enum Seen {
    Handshake(http::HeaderMap),
    Closed,
}

/// The handshake callback's signature, as tungstenite requires it.
#[allow(clippy::result_large_err)]
fn record_handshake(
    seen: &mpsc::UnboundedSender<Seen>,
    req: &Request,
    resp: Response,
) -> Result<Response, ErrorResponse> {
    let _ = seen.send(Seen::Handshake(req.headers().clone()));
    Ok(resp)
}

/// An echo backend: greets each connection with `welcome`, then sends back every text and
/// binary message it gets; reports each handshake and each close.
async fn echo_backend() -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let seen = tx.clone();
                #[allow(clippy::result_large_err)]
                let callback =
                    move |req: &Request, resp: Response| record_handshake(&seen, req, resp);
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                ws.send(Message::text("welcome")).await.unwrap();
                while let Some(Ok(msg)) = ws.next().await {
                    match msg {
                        Message::Text(_) | Message::Binary(_) => ws.send(msg).await.unwrap(),
                        Message::Close(_) => {
                            let _ = tx.send(Seen::Closed);
                            break;
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn config(backend: SocketAddr, http_backend: SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: live
    Domains: [{{DomainName: localhost, WebSocket: true}}, {{DomainName: closed.localhost}}]
    Apis:
      - ApiName: chat
        AuthType: APP
        RequestConfig: {{RequestProtocol: "HTTP,WebSocket", RequestHttpMethod: GET, RequestPath: /chat}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: /echo, ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: plain
        AuthType: ANONYMOUS
        RequestConfig: {{RequestProtocol: HTTP, RequestHttpMethod: GET, RequestPath: /plain}}
        ServiceConfig: {{ServiceAddress: "http://{http_backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
Apps:
  - AppName: chatter
    AppCodes: [{APP_CODE}]
    Authorizations: [{{GroupName: live, ApiName: chat, Stages: [RELEASE]}}]
"#
    )
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;
type Opened = Result<(Ws, http::Response<Option<Vec<u8>>>), WsError>;

/// Opens a WebSocket to the gateway's data listener for `host` and `path`.
async fn connect(gw: &Gateway, host: &str, path: &str, app_code: Option<&str>) -> Opened {
    let mut req = format!("ws://{host}{path}").into_client_request().unwrap();
    if let Some(code) = app_code {
        req.headers_mut()
            .insert("authorization", format!("APPCODE {code}").parse().unwrap());
    }
    let stream = TcpStream::connect(gw.http).await.unwrap();
    tokio_tungstenite::client_async(req, stream).await
}

/// The status and `X-Ca-Error-Code` of a refused upgrade.
fn refused(result: Opened) -> (u16, String) {
    match result {
        Err(WsError::Http(resp)) => (
            resp.status().as_u16(),
            resp.headers()
                .get("x-ca-error-code")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
        ),
        Err(e) => panic!("not an HTTP refusal: {e}"),
        Ok(_) => panic!("the upgrade was taken"),
    }
}

async fn next_text(ws: &mut Ws) -> String {
    match ws.next().await.expect("a message").expect("no error") {
        Message::Text(t) => t.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test]
async fn messages_flow_both_ways_after_an_authenticated_upgrade() {
    let (backend, mut seen) = echo_backend().await;
    let gw = Gateway::start(&config(backend, support::backend().await));

    // The upgrade request is authenticated like any request.
    assert_eq!(
        refused(connect(&gw, "localhost", "/chat", None).await),
        (400, "A400MA".into())
    );
    // An API whose RequestProtocol has no WebSocket refuses the upgrade.
    assert_eq!(
        refused(connect(&gw, "localhost", "/plain", None).await),
        (403, "I403PT".into())
    );

    let (mut ws, resp) = connect(&gw, "localhost", "/chat", Some(APP_CODE))
        .await
        .expect("upgrade");
    assert_eq!(resp.status().as_u16(), 101);
    let request_id = resp.headers()["x-ca-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let Some(Seen::Handshake(headers)) = seen.recv().await else {
        panic!("no handshake at the backend");
    };
    assert_eq!(headers["x-ca-request-id"], request_id.as_str());
    assert!(headers.contains_key("sec-websocket-key"));

    // Backend → client first, then client → backend → client, text and binary.
    assert_eq!(next_text(&mut ws).await, "welcome");
    for i in 0..20 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        assert_eq!(next_text(&mut ws).await, format!("hello {i}"));
    }
    let blob: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Binary(b) => assert_eq!(&b[..], &blob[..]),
        other => panic!("not binary: {other:?}"),
    }

    // The client's close reaches the backend.
    ws.close(None).await.unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), seen.recv()).await;
    assert!(matches!(closed, Ok(Some(Seen::Closed))), "{closed:?}");

    let metrics = support::get(gw.admin, "127.0.0.1", "/metrics").await.text();
    assert!(metrics.contains("apigw_web_sockets_total 1\n"), "{metrics}");
}

#[tokio::test]
async fn a_custom_domain_takes_upgrades_only_while_open() {
    let (backend, _seen) = echo_backend().await;
    let gw = Gateway::start_with_env(
        &config(backend, support::backend().await),
        &[
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ],
    );
    let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, "tea", action, params);
    let groups = call("DescribeApiGroups", json!({"GroupName": "live"}));
    let group_id = groups["body"]["ApiGroupAttributes"]["ApiGroupAttribute"][0]["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let status = |domain: &str| {
        let d = call(
            "DescribeDomain",
            json!({"GroupId": group_id, "DomainName": domain}),
        );
        assert_eq!(d["ok"], true, "{d}");
        d["body"]["DomainWebSocketStatus"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("closed.localhost"), "CLOSE");
    assert_eq!(status("localhost"), "NORMAL");
    assert_eq!(
        refused(connect(&gw, "closed.localhost", "/chat", Some(APP_CODE)).await),
        (403, "I403PT".into())
    );

    let set = |domain: &str, action: &str| {
        call(
            "SetDomainWebSocketStatus",
            json!({"GroupId": group_id, "DomainName": domain, "ActionValue": action}),
        )
    };
    assert_eq!(set("closed.localhost", "ON")["ok"], true);
    assert_eq!(status("closed.localhost"), "NORMAL");
    let (mut ws, _) = connect(&gw, "closed.localhost", "/chat", Some(APP_CODE))
        .await
        .expect("upgrade once open");
    assert_eq!(next_text(&mut ws).await, "welcome");
    ws.close(None).await.unwrap();

    assert_eq!(set("closed.localhost", "OFF")["ok"], true);
    assert_eq!(
        refused(connect(&gw, "closed.localhost", "/chat", Some(APP_CODE)).await),
        (403, "I403PT".into())
    );
    // A value other than ON or OFF is refused, and changes nothing.
    let bad = set("closed.localhost", "MAYBE");
    assert_eq!(
        (bad["ok"].as_bool(), bad["status"].as_u64()),
        (Some(false), Some(400)),
        "{bad}"
    );
    assert_eq!(status("closed.localhost"), "CLOSE");
    // Plain HTTP on the same API is unaffected by the domain's WebSocket status.
    let plain = support::get(gw.http, "closed.localhost", "/plain").await;
    assert_eq!(plain.status.as_u16(), 200);
}
