//! Real client libraries pointed at Firebreak, unchanged but for their base URL: the official
//! Opsgenie Python SDK (`opsgenie-sdk` from PyPI) creates, reads, acknowledges and closes an
//! alert, learning its id through the request-status call the way every SDK does.
//!
//! The Python that has the SDK is `FIREBREAK_TEST_PYTHON` (`.ci/run` makes a virtual
//! environment with it), or `python3`. If neither can import the SDK the test fails and says
//! how to install it: it never skips.

mod common;

use std::process::Command;

use reqwest::Method;
use serde_json::json;

fn python_with(module: &str) -> String {
    let candidates = [
        std::env::var("FIREBREAK_TEST_PYTHON").ok(),
        Some("python3".into()),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python;
        }
    }
    panic!(
        "this test needs Python with the `{module}` package: run .ci/run, or \
         `python3 -m venv v && v/bin/pip install opsgenie-sdk==2.1.5` and set \
         FIREBREAK_TEST_PYTHON=v/bin/python"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opsgenie_sdk_works_against_firebreak() {
    let python = python_with("opsgenie_sdk");
    let s = common::spawn().await;
    s.call(
        Method::POST,
        "/api/v1/services",
        Some(&s.admin),
        Some(json!({"name": "storage"})),
    )
    .await
    .expect(201);
    let created = s
        .call(
            Method::POST,
            "/api/v1/services/storage/integrations",
            Some(&s.admin),
            Some(json!({"name": "opsgenie"})),
        )
        .await;
    let key = created.expect(201)["key"].as_str().unwrap().to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/opsgenie_client.py"
    );
    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("FIREBREAK_URL", base)
            .env("FIREBREAK_GENIE_KEY", key)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(": ok"), "{stdout}");
}
