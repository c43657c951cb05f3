//! The built-in demo apps over real loopback TCP: pages, request reflection, streaming
//! echo and download, WebSocket echo, and shutdown.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, TcpStream};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use govgate::demo::{download_byte, DemoApp, DemoApps, RequestSeen};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends one request on a fresh HTTP/1.1 connection.
async fn send<B>(addr: SocketAddr, request: Request<B>) -> Response<Incoming>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap()
}

async fn get(
    addr: SocketAddr,
    path_and_query: &str,
    headers: &[(&str, HeaderValue)],
) -> Response<Incoming> {
    let mut request = Request::get(path_and_query).header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, value.clone());
    }
    send(addr, request.body(Empty::<Bytes>::new()).unwrap()).await
}

async fn body_bytes(response: Response<Incoming>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

type FrameResult = Result<Frame<Bytes>, Infallible>;

/// A request body fed frame by frame from the test.
fn channel_body() -> (
    mpsc::Sender<Frame<Bytes>>,
    StreamBody<impl futures_util::Stream<Item = FrameResult>>,
) {
    let (tx, rx) = mpsc::channel::<Frame<Bytes>>(4);
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (Ok(frame), rx))
    });
    (tx, StreamBody::new(frames))
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect()
}

#[tokio::test]
async fn page_is_utf8_names_the_app_and_escapes_hostile_headers() {
    let apps = DemoApps::start().unwrap();
    for app in [DemoApp::OneStopShop, DemoApp::Documents] {
        let response = get(
            apps.addr(app),
            "/motcua/ho-so?trang=2",
            &[
                (
                    "x-evil",
                    HeaderValue::from_static("<script>alert(\"pwn\")</script>"),
                ),
                ("x-forwarded-for", HeaderValue::from_static("203.0.113.7")),
                ("x-remote-user", HeaderValue::from_static("nguyenvana")),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers()["x-demo-app"], app.slug());
        let page = String::from_utf8(body_bytes(response).await.to_vec()).expect("page is UTF-8");
        assert!(page.contains(app.name_vi()), "{app:?} page lacks its name");
        assert!(page.contains("&#60;script&#62;alert(&#34;pwn&#34;)&#60;/script&#62;"));
        assert!(
            !page.contains("<script>alert"),
            "hostile header reached the page unescaped"
        );
        assert!(page.contains("/motcua/ho-so"), "path shown");
        assert!(page.contains(
            r#"<tr class="fwd"><th scope="row">x-forwarded-for</th><td class="v">203.0.113.7</td>"#
        ));
        assert!(page.contains(
            r#"<tr class="id"><th scope="row">x-remote-user</th><td class="v">nguyenvana</td>"#
        ));
        assert!(
            page.contains(r#"<tr class=""><th scope="row">x-evil</th>"#),
            "ordinary headers not highlighted"
        );
    }
    let documents_page = body_bytes(get(apps.documents, "/", &[]).await).await;
    let documents_page = std::str::from_utf8(&documents_page).unwrap();
    assert!(documents_page.contains("Quản lý văn bản và điều hành"));
    assert!(documents_page.contains("Văn bản đến"));
    assert!(!documents_page.contains("Một cửa điện tử"));
}

#[tokio::test]
async fn api_request_reflects_headers_and_decoded_vietnamese_query() {
    let apps = DemoApps::start().unwrap();
    let response = get(
        apps.documents,
        "/vanban/api/request?q=h%E1%BB%93%20s%C6%A1&page=2",
        &[
            ("x-custom-probe", HeaderValue::from_static("probe-42")),
            (
                "x-govgate-name",
                HeaderValue::from_bytes("Nguyễn Văn An".as_bytes()).unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let seen: RequestSeen = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/vanban/api/request");
    assert_eq!(
        seen.raw_query.as_deref(),
        Some("q=h%E1%BB%93%20s%C6%A1&page=2")
    );
    assert_eq!(seen.query_value("q"), Some("hồ sơ"));
    assert_eq!(seen.query_value("page"), Some("2"));
    assert_eq!(seen.header("X-Custom-Probe"), Some("probe-42"));
    assert_eq!(seen.header("x-govgate-name"), Some("Nguyễn Văn An"));
    assert_eq!(seen.header("x-not-sent"), None);

    // Headers are a list of [name, value] pairs on the wire.
    let raw: serde_json::Value = serde_json::from_slice(
        &body_bytes(get(apps.one_stop_shop, "/api/request", &[]).await).await,
    )
    .unwrap();
    let first = &raw["headers"][0];
    assert!(first[0].is_string() && first[1].is_string(), "{raw}");
    assert_eq!(raw["query"], serde_json::json!([]));
}

#[tokio::test]
async fn echo_round_trips_8_mib_exactly() {
    let apps = DemoApps::start().unwrap();
    let payload = Bytes::from(pseudo_random(8 * 1024 * 1024, 7));
    let (tx, body) = channel_body();
    let request = Request::post("/motcua/echo")
        .header("host", "demo")
        .header("content-type", "application/x-govgate-test")
        .body(body)
        .unwrap();
    let feeder = {
        let payload = payload.clone();
        tokio::spawn(async move {
            for chunk in payload.chunks(100_003) {
                tx.send(Frame::data(Bytes::copy_from_slice(chunk)))
                    .await
                    .unwrap();
            }
        })
    };
    let response = send(apps.one_stop_shop, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-govgate-test"
    );
    let echoed = body_bytes(response).await;
    feeder.await.unwrap();
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload, "echoed bytes differ");
}

#[tokio::test]
async fn echo_streams_before_the_request_body_ends_and_drops_trailers() {
    let apps = DemoApps::start().unwrap();
    let (tx, body) = channel_body();
    // A declared request trailer must neither break the echo nor come back.
    let request = Request::put("/echo")
        .header("host", "demo")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        .body(body)
        .unwrap();
    tx.send(Frame::data(Bytes::from_static(b"first part")))
        .await
        .unwrap();
    let response = send(apps.documents, request).await;
    let mut response_body = response.into_body();
    // The first chunk comes back while the request body is still open: no buffering.
    let first = response_body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&first[..], b"first part");

    tx.send(Frame::data(Bytes::from_static(b" second part")))
        .await
        .unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    tx.send(Frame::trailers(trailers)).await.unwrap();
    drop(tx);
    let rest = response_body.collect().await.unwrap();
    assert!(
        rest.trailers().is_none(),
        "request trailers must not be echoed"
    );
    assert_eq!(&rest.to_bytes()[..], b" second part");
}

#[tokio::test]
async fn echo_refuses_get() {
    let apps = DemoApps::start().unwrap();
    let response = get(apps.documents, "/echo", &[]).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST, PUT");
}

#[tokio::test]
async fn download_returns_exactly_n_bytes_of_the_pattern_chunked() {
    let apps = DemoApps::start().unwrap();
    for n in [0u64, 1, 65_536, 3 * 65_536 + 12_345] {
        let response = get(
            apps.one_stop_shop,
            &format!("/motcua/download?bytes={n}"),
            &[],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["transfer-encoding"], "chunked", "n={n}");
        assert!(response.headers().get("content-length").is_none());
        let body = body_bytes(response).await;
        assert_eq!(body.len() as u64, n);
        assert!(
            body.iter()
                .enumerate()
                .all(|(i, b)| *b == download_byte(i as u64)),
            "n={n}: pattern differs"
        );
    }
}

#[tokio::test]
async fn download_and_slow_reject_bad_numbers() {
    let apps = DemoApps::start().unwrap();
    for path in [
        "/download",
        "/download?bytes=abc",
        "/download?bytes=-1",
        "/slow?ms=soon",
        "/slow",
    ] {
        let response = get(apps.documents, path, &[]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    let response = get(apps.documents, "/vanban/slow?ms=20", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(&body_bytes(response).await[..], b"waited 20 ms\n");
}

#[tokio::test]
async fn websocket_echoes_text_and_binary() {
    let apps = DemoApps::start().unwrap();
    let stream = tokio::net::TcpStream::connect(apps.documents)
        .await
        .unwrap();
    let url = format!("ws://{}/vanban/ws", apps.documents);
    let (mut socket, handshake) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(handshake.status(), StatusCode::SWITCHING_PROTOCOLS);

    socket
        .send(Message::text("Xin chào — hồ sơ số 12"))
        .await
        .unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("Xin chào — hồ sơ số 12")
    );

    let binary = pseudo_random(100_000, 3);
    socket.send(Message::binary(binary.clone())).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::binary(binary)
    );

    socket.close(None).await.unwrap();
    // The server answers the close; the stream then ends without an error.
    while let Some(message) = socket.next().await {
        assert!(matches!(message, Ok(Message::Close(_))), "{message:?}");
    }
}

#[tokio::test]
async fn websocket_path_without_upgrade_is_a_bad_request() {
    let apps = DemoApps::start().unwrap();
    let response = get(apps.one_stop_shop, "/ws", &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let request = Request::builder()
        .method(Method::GET)
        .uri("/ws")
        .header("host", "demo")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "8")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = send(apps.one_stop_shop, request).await;
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
}

#[test]
fn drop_frees_the_ports_even_with_a_connection_open() {
    let apps = DemoApps::start().unwrap();
    let addrs = [apps.one_stop_shop, apps.documents];
    assert_ne!(addrs[0], addrs[1]);
    assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    let idle = TcpStream::connect(addrs[0]).unwrap();
    drop(apps);
    for addr in addrs {
        assert!(
            TcpStream::connect(addr).is_err(),
            "{addr} still accepts connections"
        );
        TcpListener::bind(addr).unwrap_or_else(|e| panic!("{addr} not freed: {e}"));
    }
    drop(idle);
}
