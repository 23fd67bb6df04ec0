//! The client against small HTTP servers on 127.0.0.1: redirects are returned, not followed;
//! names that resolve to internal addresses are refused before any connection; errors and answers
//! are classified the way the delivery rules say. Nothing here leaves the machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use firebreak_outbound::{
    OutboundClient, OutboundPolicy, SendError, Timeouts, Verdict, classify, parse_allow_list,
    signing,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// A one-answer HTTP server: it counts requests, keeps the last one's text, and sends `answer`.
struct TestServer {
    port: u16,
    requests: Arc<AtomicUsize>,
    last_request: Arc<Mutex<String>>,
}

impl TestServer {
    async fn start(answer: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let last_request = Arc::new(Mutex::new(String::new()));
        let (count, last) = (Arc::clone(&requests), Arc::clone(&last_request));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let request = read_request(&mut stream).await;
                count.fetch_add(1, Ordering::SeqCst);
                *last.lock().await = request;
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Self {
            port,
            requests,
            last_request,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Read the head and, by Content-Length, the body of one request.
async fn read_request(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn answer(status_line: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status_line}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn client(allow: &str) -> OutboundClient {
    let policy = OutboundPolicy::new(parse_allow_list(allow).unwrap());
    OutboundClient::new(policy, Timeouts::default()).unwrap()
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
}

#[tokio::test]
async fn a_redirect_is_returned_not_followed() {
    let landing = TestServer::start(answer("200 OK", "", "landed")).await;
    let location = format!("Location: http://127.0.0.1:{}/landing\r\n", landing.port);
    let redirecting = TestServer::start(answer("302 Found", &location, "")).await;

    let result = client("127.0.0.0/8")
        .post(
            &format!("http://127.0.0.1:{}/hook", redirecting.port),
            &json_headers(),
            r#"{"ok":true}"#,
        )
        .await;

    let answer = result.as_ref().expect("the 302 is an answer");
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(redirecting.requests(), 1);
    assert_eq!(landing.requests(), 0, "the redirect must not be followed");
    match classify(&result) {
        Verdict::Failed { reason } => {
            assert!(reason.contains("redirects are not followed"), "{reason}")
        }
        other => panic!("a redirect must fail the delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn a_loopback_literal_is_refused_without_connecting() {
    let server = TestServer::start(answer("200 OK", "", "")).await;
    for host in ["127.0.0.1", "2130706433", "[::ffff:127.0.0.1]"] {
        let result = client("")
            .post(
                &format!("http://{host}:{}/hook/t0ken", server.port),
                &json_headers(),
                "{}",
            )
            .await;
        let Err(SendError::Refused { message, .. }) = &result else {
            panic!("{host}: expected a refusal, got {result:?}");
        };
        assert!(message.contains("127.0.0.1"), "{message}");
        assert!(message.contains("a loopback address"), "{message}");
        assert!(!message.contains("t0ken"), "{message}");
        assert!(matches!(classify(&result), Verdict::Failed { .. }));
    }
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_send_time() {
    let server = TestServer::start(answer("204 No Content", "", "")).await;
    let url = format!("http://localhost:{}/hook/t0ken?key=s3cret", server.port);

    let result = client("").post(&url, &json_headers(), "{}").await;
    let Err(SendError::Refused { message, .. }) = &result else {
        panic!("expected a DNS refusal, got {result:?}");
    };
    assert!(message.contains("localhost"), "{message}");
    assert!(
        message.contains("127.0.0.1 is a loopback address") || message.contains("::1 is a"),
        "{message}"
    );
    assert!(
        !message.contains("t0ken") && !message.contains("s3cret"),
        "{message}"
    );
    assert_eq!(server.requests(), 0, "no connection may be made");
    assert_eq!(
        classify(&result),
        Verdict::Failed {
            reason: message.clone()
        }
    );

    // Allowed, it connects. Some systems also map localhost to ::1, so that is allowed too.
    let result = client("127.0.0.0/8, ::1")
        .post(&url, &json_headers(), "{}")
        .await;
    assert_eq!(result.unwrap().status, StatusCode::NO_CONTENT);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn headers_body_and_user_agent_arrive_as_sent() {
    let server = TestServer::start(answer("200 OK", "", "ok")).await;
    let secret = signing::new_secret().unwrap();
    let id = signing::message_id(1_795_184_405_083).unwrap();
    let body = r#"{"type":"incident.updated"}"#;
    let mut headers = signing::headers(&[&secret], &id, 1_795_184_405, body.as_bytes()).unwrap();
    headers.extend(json_headers());

    let result = client("127.0.0.0/8")
        .post(
            &format!("http://127.0.0.1:{}/hook", server.port),
            &headers,
            body,
        )
        .await;
    let answer = result.as_ref().unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body_excerpt, "ok");
    assert_eq!(classify(&result), Verdict::Delivered);

    let request = server.last_request.lock().await.clone();
    assert!(request.starts_with("POST /hook HTTP/1.1\r\n"), "{request}");
    let (head, received_body) = request.split_once("\r\n\r\n").unwrap();
    assert_eq!(received_body, body);
    let mut received = HeaderMap::new();
    for line in head.lines().skip(1) {
        let (name, value) = line.split_once(':').unwrap();
        received.append(
            http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    assert_eq!(
        received[http::header::USER_AGENT],
        concat!("Firebreak/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(received[http::header::CONTENT_TYPE], "application/json");
    assert_eq!(
        signing::verify(
            &[&secret],
            &received,
            received_body.as_bytes(),
            1_795_184_405
        ),
        Ok(())
    );
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let server = TestServer::start(answer(
        "429 Too Many Requests",
        "Retry-After: 7\r\n",
        "{\"error\":\"slow down\"}\n",
    ))
    .await;
    let result = client("127.0.0.0/8")
        .post(
            &format!("http://127.0.0.1:{}/", server.port),
            &json_headers(),
            "{}",
        )
        .await;
    let answer = result.as_ref().unwrap();
    assert_eq!(answer.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(answer.body_excerpt, "{\"error\":\"slow down\"} ");
    assert_eq!(
        classify(&result),
        Verdict::RetryLater {
            after: Some(Duration::from_secs(7)),
            reason: "429 Too Many Requests: {\"error\":\"slow down\"}".into()
        }
    );
}

#[tokio::test]
async fn only_the_start_of_a_long_body_is_kept() {
    let long = "a".repeat(10_000);
    let server = TestServer::start(answer("500 Internal Server Error", "", &long)).await;
    let result = client("127.0.0.0/8")
        .post(
            &format!("http://127.0.0.1:{}/", server.port),
            &json_headers(),
            "{}",
        )
        .await;
    assert_eq!(result.as_ref().unwrap().body_excerpt, "a".repeat(300));
    assert!(matches!(
        classify(&result),
        Verdict::RetryLater { after: None, .. }
    ));
}

#[tokio::test]
async fn a_refused_connection_is_retried() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = client("127.0.0.0/8")
        .post(
            &format!("http://127.0.0.1:{port}/hook/t0ken"),
            &json_headers(),
            "{}",
        )
        .await;
    let Err(SendError::Connect { message, .. }) = &result else {
        panic!("expected a connection error, got {result:?}");
    };
    assert!(
        message.starts_with(&format!("could not connect to 127.0.0.1:{port}: ")),
        "{message}"
    );
    assert!(!message.contains("t0ken"), "{message}");
    assert!(matches!(
        classify(&result),
        Verdict::RetryLater { after: None, .. }
    ));
}

#[tokio::test]
async fn a_silent_receiver_times_out_and_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        // Accept and read, never answer; keep the connections open until the test ends.
        let mut open = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = read_request(&mut stream).await;
            open.push(stream);
        }
    });
    let policy = OutboundPolicy::new(parse_allow_list("127.0.0.0/8").unwrap());
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        total: Duration::from_millis(300),
    };
    let result = OutboundClient::new(policy, timeouts)
        .unwrap()
        .post(&format!("http://127.0.0.1:{port}/"), &json_headers(), "{}")
        .await;
    let Err(err @ SendError::Timeout { .. }) = &result else {
        panic!("expected a timeout, got {result:?}");
    };
    assert_eq!(
        err.message(),
        format!("no answer from 127.0.0.1:{port} within 0.3s")
    );
    assert!(err.duration() >= Duration::from_millis(300));
    assert!(matches!(
        classify(&result),
        Verdict::RetryLater { after: None, .. }
    ));
}

#[tokio::test]
async fn https_urls_are_spoken_to_in_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_byte = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        byte[0]
    });
    let result = client("127.0.0.0/8")
        .post(&format!("https://127.0.0.1:{port}/"), &json_headers(), "{}")
        .await;
    // 0x16 opens a TLS handshake record: the client sent a ClientHello.
    assert_eq!(first_byte.await.unwrap(), 0x16);
    assert!(result.is_err(), "{result:?}");
}
