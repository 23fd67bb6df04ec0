//! Standard Webhooks signing against the spec example in tests/fixtures (a copy of
//! shared/fixtures/standard-webhooks-example.txt): the exact signature, the rotation header, and
//! every case the fixture says a verifier must reject.

use std::collections::HashMap;

use firebreak_outbound::signing::{
    self, VerifyError, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};
use http::{HeaderMap, HeaderValue};

struct Example {
    secret: String,
    previous_secret: String,
    body: String,
    signed_content: String,
    expected_signature: String,
    rotation_signature: String,
    id: String,
    timestamp: i64,
}

/// Sections of the fixture: `[name]` (and a comment) starts one; '#' lines are comments.
fn sections() -> HashMap<String, Vec<String>> {
    let text = include_str!("fixtures/standard-webhooks-example.txt");
    let mut sections: HashMap<String, Vec<String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('[') {
            current = rest.split(']').next().unwrap().to_string();
            sections.entry(current.clone()).or_default();
        } else if !line.starts_with('#') && !current.is_empty() {
            sections.get_mut(&current).unwrap().push(line.to_string());
        }
    }
    sections
}

fn header_value<'a>(lines: &'a [String], name: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} line"))
}

fn example() -> Example {
    let s = sections();
    let request = &s["http_request"];
    Example {
        secret: s["secret"][0].clone(),
        previous_secret: s["previous_secret"][0].clone(),
        body: s["body"][0].clone(),
        signed_content: s["signed_content"][0].clone(),
        expected_signature: header_value(&s["expected"], "webhook-signature").to_string(),
        rotation_signature: header_value(&s["rotation_example"], "webhook-signature").to_string(),
        id: header_value(request, "webhook-id").to_string(),
        timestamp: header_value(request, "webhook-timestamp").parse().unwrap(),
    }
}

fn received(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(WEBHOOK_ID, HeaderValue::from_str(id).unwrap());
    headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
    headers.insert(WEBHOOK_SIGNATURE, HeaderValue::from_str(signature).unwrap());
    headers
}

#[test]
fn the_fixture_is_what_it_says() {
    let ex = example();
    assert_eq!(ex.body.len(), 465);
    assert_eq!(
        ex.signed_content,
        format!("{}.{}.{}", ex.id, ex.timestamp, ex.body)
    );
}

#[test]
fn signs_the_example_exactly() {
    let ex = example();
    let signature = signing::sign(&ex.secret, &ex.id, ex.timestamp, ex.body.as_bytes()).unwrap();
    assert_eq!(signature, ex.expected_signature);

    let headers =
        signing::headers(&[&ex.secret], &ex.id, ex.timestamp, ex.body.as_bytes()).unwrap();
    assert_eq!(headers[WEBHOOK_ID], ex.id.as_str());
    assert_eq!(
        headers[WEBHOOK_TIMESTAMP],
        ex.timestamp.to_string().as_str()
    );
    assert_eq!(headers[WEBHOOK_SIGNATURE], ex.expected_signature.as_str());
}

#[test]
fn signs_with_both_secrets_during_rotation() {
    let ex = example();
    let headers = signing::headers(
        &[&ex.secret, &ex.previous_secret],
        &ex.id,
        ex.timestamp,
        ex.body.as_bytes(),
    )
    .unwrap();
    assert_eq!(headers[WEBHOOK_SIGNATURE], ex.rotation_signature.as_str());
}

#[test]
fn verifies_the_example_with_either_secret() {
    let ex = example();
    let body = ex.body.as_bytes();
    let single = received(&ex.id, ex.timestamp, &ex.expected_signature);
    assert_eq!(
        signing::verify(&[&ex.secret], &single, body, ex.timestamp),
        Ok(())
    );

    let rotated = received(&ex.id, ex.timestamp, &ex.rotation_signature);
    for secrets in [
        vec![ex.secret.as_str()],
        vec![ex.previous_secret.as_str()],
        vec![
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ex.previous_secret.as_str(),
        ],
    ] {
        assert_eq!(
            signing::verify(&secrets, &rotated, body, ex.timestamp + 300),
            Ok(()),
            "{secrets:?}"
        );
    }
    // Exactly at the edge of the tolerance, in both directions.
    assert_eq!(
        signing::verify(&[&ex.secret], &single, body, ex.timestamp - 300),
        Ok(())
    );
}

#[test]
fn rejects_a_tampered_body() {
    let ex = example();
    let tampered = ex.body.replace("SEV2", "SEV1");
    let headers = received(&ex.id, ex.timestamp, &ex.expected_signature);
    assert_eq!(
        signing::verify(&[&ex.secret], &headers, tampered.as_bytes(), ex.timestamp),
        Err(VerifyError::NoMatchingSignature)
    );
    // The fixture also gives what the tampered body would sign to.
    assert_eq!(
        signing::sign(&ex.secret, &ex.id, ex.timestamp, tampered.as_bytes()).unwrap(),
        "v1,EbVT5z/7s+XidfvVBlY9+GdyUXwRnJbpnEAkukumTC8="
    );
}

#[test]
fn rejects_an_old_or_future_timestamp_even_with_a_good_signature() {
    let ex = example();
    let headers = received(&ex.id, ex.timestamp, &ex.expected_signature);
    let body = ex.body.as_bytes();
    let err = signing::verify(&[&ex.secret], &headers, body, 1_795_184_706).unwrap_err();
    assert_eq!(err, VerifyError::TimestampTooOld);
    assert_eq!(err.to_string(), "timestamp too old");
    assert_eq!(
        signing::verify(&[&ex.secret], &headers, body, ex.timestamp - 301),
        Err(VerifyError::TimestampTooNew)
    );
}

#[test]
fn ignores_v1a_signatures() {
    let ex = example();
    let v1a = ex.expected_signature.replacen("v1,", "v1a,", 1);
    let headers = received(&ex.id, ex.timestamp, &v1a);
    assert_eq!(
        signing::verify(&[&ex.secret], &headers, ex.body.as_bytes(), ex.timestamp),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn rejects_a_missing_header() {
    let ex = example();
    for missing in [WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE] {
        let mut headers = received(&ex.id, ex.timestamp, &ex.expected_signature);
        headers.remove(&missing);
        assert_eq!(
            signing::verify(&[&ex.secret], &headers, ex.body.as_bytes(), ex.timestamp),
            Err(VerifyError::MissingHeader(missing))
        );
    }
}

#[test]
fn rejects_other_damage() {
    let ex = example();
    let body = ex.body.as_bytes();
    let secret = [ex.secret.as_str()];
    // Another id or timestamp changes the signed content.
    let other_id = received(
        "msg_01JD8Y4B7Q3VZ2K9X6M1R5T8WP",
        ex.timestamp,
        &ex.expected_signature,
    );
    assert_eq!(
        signing::verify(&secret, &other_id, body, ex.timestamp),
        Err(VerifyError::NoMatchingSignature)
    );
    let other_time = received(&ex.id, ex.timestamp + 1, &ex.expected_signature);
    assert_eq!(
        signing::verify(&secret, &other_time, body, ex.timestamp),
        Err(VerifyError::NoMatchingSignature)
    );
    let garbage = received(&ex.id, ex.timestamp, "v1,not-base64!! v2,abc nonsense");
    assert_eq!(
        signing::verify(&secret, &garbage, body, ex.timestamp),
        Err(VerifyError::NoMatchingSignature)
    );
    let mut bad_time = received(&ex.id, ex.timestamp, &ex.expected_signature);
    bad_time.insert(
        WEBHOOK_TIMESTAMP,
        HeaderValue::from_static("2026-11-20T14:20:05Z"),
    );
    assert_eq!(
        signing::verify(&secret, &bad_time, body, ex.timestamp),
        Err(VerifyError::InvalidTimestamp)
    );
    // No secrets at all verifies nothing.
    let good = received(&ex.id, ex.timestamp, &ex.expected_signature);
    assert_eq!(
        signing::verify(&[], &good, body, ex.timestamp),
        Err(VerifyError::NoMatchingSignature)
    );
}
