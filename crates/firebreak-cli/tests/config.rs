//! `firebreak config export` against a wiremock server that answers `GET /api/v1/config` with
//! the document the real server sends (`firebreak_config::to_document`): the YAML it prints
//! reads back into the same configuration, and no integration key is ever printed.

use clap::{Parser, Subcommand};
use firebreak_cli::{CliError, ClientArgs, ConfigCommand, execute_config};
use firebreak_domain::config::Config;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EXAMPLE: &str = include_str!("../../firebreak-config/examples/firebreak.yaml");
const INCIDENTS_URL: &str = "https://hooks.slack.com/services/T000/B000/XXXX";
const GRAFANA_KEY: &str = "EXAMPLEKEYsearchApiGrafana000003";

fn args(server: &str, json: bool) -> ClientArgs {
    ClientArgs {
        server: Some(server.to_string()),
        token: Some("tok-1".to_string()),
        json,
    }
}

/// The running configuration: the shipped example.
fn running() -> Config {
    let env = |name: &str| match name {
        "FIREBREAK_KEY_SEARCH_API_GRAFANA" => Some(GRAFANA_KEY.to_string()),
        "FIREBREAK_CHANNEL_INCIDENTS_URL" => Some(INCIDENTS_URL.to_string()),
        "FIREBREAK_OIDC_CLIENT_SECRET" => Some("an-oidc-client-secret".to_string()),
        _ => None,
    };
    firebreak_config::parse_with_env(EXAMPLE, "firebreak.yaml", &env)
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn server_with(doc: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/config"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .expect(1)
        .mount(&server)
        .await;
    server
}

async fn export(
    output: Option<std::path::PathBuf>,
    a: &ClientArgs,
) -> (Result<(), CliError>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = execute_config(ConfigCommand::Export { output }, a, &mut out, &mut err).await;
    (
        r,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// Every integration key of `config`, blanked, so configs can be compared without them.
fn without_keys(mut config: Config) -> Config {
    for i in config.services.iter_mut().flat_map(|s| &mut s.integrations) {
        i.key.clear();
        i.key_env = None;
    }
    config
}

#[tokio::test]
async fn export_prints_yaml_that_reads_back_into_the_running_config() {
    let config = running();
    let server = server_with(firebreak_config::to_document(&config)).await;
    let (r, out, err) = export(None, &args(&server.uri(), false)).await;
    r.unwrap();
    assert!(
        out.starts_with("# firebreak.yaml written by Firebreak"),
        "{out}"
    );
    assert!(out.contains("respond_within: next business day"), "{out}");
    assert!(!out.contains("respond_within_minutes"), "{out}");

    // The keys are not in the output; `firebreak check` reads it once the variables are set.
    for spec in config.services.iter().flat_map(|s| &s.integrations) {
        assert!(!out.contains(&spec.key), "{out}");
    }
    assert!(
        !out.contains(INCIDENTS_URL) && !out.contains("B000"),
        "{out}"
    );
    let keys = [
        (
            "FIREBREAK_KEY_CHECKOUT_PROMETHEUS",
            "EXAMPLEKEYcheckoutPrometheus0001",
        ),
        (
            "FIREBREAK_KEY_CHECKOUT_STRIPE_STATUS",
            "EXAMPLEKEYcheckoutStripe00000002",
        ),
        ("FIREBREAK_KEY_SEARCH_API_GRAFANA", GRAFANA_KEY),
        ("FIREBREAK_CHANNEL_INCIDENTS_URL", INCIDENTS_URL),
        ("FIREBREAK_OIDC_CLIENT_SECRET", "an-oidc-client-secret"),
    ];
    let env = |name: &str| {
        keys.iter()
            .find(|(v, _)| *v == name)
            .map(|(_, k)| k.to_string())
    };
    let back = firebreak_config::parse_with_env(&out, "exported.yaml", &env)
        .unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(without_keys(back.clone()), without_keys(config.clone()));
    let all_keys = |c: &Config| -> Vec<String> {
        c.services
            .iter()
            .flat_map(|s| &s.integrations)
            .map(|i| i.key.clone())
            .collect()
    };
    assert_eq!(all_keys(&back), all_keys(&config));

    // Standard error names the variables to set.
    assert_eq!(
        err,
        "Integration keys and channel URLs are not exported. Where this file is checked or \
         served, set: FIREBREAK_KEY_CHECKOUT_PROMETHEUS, FIREBREAK_KEY_CHECKOUT_STRIPE_STATUS, \
         FIREBREAK_KEY_SEARCH_API_GRAFANA, FIREBREAK_CHANNEL_INCIDENTS_URL\n"
    );
}

#[tokio::test]
async fn export_writes_the_file_named_by_output() {
    let config = Config::default();
    let server = server_with(firebreak_config::to_document(&config)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("firebreak.yaml");
    let (r, out, err) = export(Some(file.clone()), &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!("Wrote the running configuration to {}\n", file.display())
    );
    // No integrations, so nothing to set: the file loads as it is.
    assert_eq!(firebreak_config::load(&file).unwrap(), config);
}

#[tokio::test]
async fn export_with_json_prints_the_servers_document() {
    let doc = firebreak_config::to_document(&running());
    let server = server_with(doc.clone()).await;
    let (r, out, _) = export(None, &args(&server.uri(), true)).await;
    r.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), doc);
}

#[tokio::test]
async fn export_refuses_a_summary_from_an_older_server() {
    let server = server_with(json!({
        "severities": [{"name": "SEV1", "respond_within_minutes": 5}],
        "roles": [], "checklists": [], "services": ["checkout"], "users": []
    }))
    .await;
    let (r, out, _) = export(None, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert!(
        e.to_string()
            .contains("did not answer with the configuration in the firebreak.yaml model"),
        "{e}"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(out, "");
}

#[tokio::test]
async fn export_reports_a_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/config"))
        .respond_with(
            ResponseTemplate::new(401).set_body_raw(
                serde_json::to_vec(&json!({
                    "type": "about:blank", "title": "Unauthorized", "status": 401,
                    "detail": "the token is not valid"
                }))
                .unwrap(),
                "application/problem+json",
            ),
        )
        .mount(&server)
        .await;
    let (r, out, err) = export(None, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert_eq!(e.to_string(), "Unauthorized: the token is not valid");
    assert_eq!(e.exit_code(), 1);
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
}

#[derive(Parser, Debug)]
struct TestCli {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    cmd: TestCmd,
}

#[derive(Subcommand, Debug)]
enum TestCmd {
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[test]
fn export_takes_an_output_file() {
    let cli =
        TestCli::try_parse_from(["firebreak", "config", "export", "--output", "f.yaml"]).unwrap();
    let TestCmd::Config(ConfigCommand::Export { output }) = cli.cmd;
    assert_eq!(output, Some("f.yaml".into()));
    let cli = TestCli::try_parse_from(["firebreak", "config", "export", "-o", "g.yaml"]).unwrap();
    let TestCmd::Config(ConfigCommand::Export { output }) = cli.cmd;
    assert_eq!(output, Some("g.yaml".into()));
    let cli =
        TestCli::try_parse_from(["firebreak", "config", "export", "--server", "http://x"]).unwrap();
    assert_eq!(cli.client.server.as_deref(), Some("http://x"));
    assert!(TestCli::try_parse_from(["firebreak", "config", "export", "extra"]).is_err());
}
