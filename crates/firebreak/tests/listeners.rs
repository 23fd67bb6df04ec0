//! The listeners against clients that misbehave at the connection level.

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A client that sends a request's head a little at a time and never finishes it is
/// disconnected after the header-read timeout (30 s), so slow clients cannot hold connections
/// open for ever. Other clients are answered meanwhile.
#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off() {
    let server = common::spawn().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .await
        .expect("write part of a head");
    let started = Instant::now();

    // Meanwhile the server answers others.
    let ok = common::client()
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(ok.status(), 200);

    // One more header line now and then, never the blank line that ends the head.
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the connection was still open after 60 s"
        );
        match tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {
                // Still open: dribble another header line, as a slow client does.
                if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    break started.elapsed();
                }
            }
        }
    };
    assert!(
        closed >= Duration::from_secs(25),
        "cut off after {closed:?}, sooner than the timeout"
    );
    // Nothing was answered on it but, at most, a 408.
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "unexpected answer: {text}"
    );
}
