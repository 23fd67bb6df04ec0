//! Probes for uptime checks: one HTTP(S) request or one TCP connect, timed, with the SSRF guard
//! on the URL, on every DNS answer and on the address a TCP check connects to. Like
//! `curl -I`, redirects are not followed (the status is what the target answered), and for
//! HTTPS the peer certificate's expiry is read.
//!
//! A check may trust a private CA (a PEM file, `tls.ca_file`): one client is kept per distinct
//! file, built on first use. Nothing here fails loudly: every problem is a failed probe with a
//! short message that names at most the host and port.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::client::{USER_AGENT, find_source, host_and_port, root_cause};
use crate::guard::{DnsRefusal, GuardedResolver, OutboundPolicy};

/// What one probe saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// The HTTP status, when the target answered.
    pub status: Option<u16>,
    pub latency: Duration,
    /// The start of the body, when asked for.
    pub body: Option<String>,
    /// Why there was no answer.
    pub error: Option<String>,
    /// The peer certificate's `notAfter`, for HTTPS.
    pub cert_not_after: Option<Timestamp>,
}

impl Probe {
    fn failed(started: Instant, error: impl Into<String>) -> Probe {
        Probe {
            latency: started.elapsed(),
            error: Some(error.into()),
            ..Probe::default()
        }
    }
}

/// One HTTP request to make.
#[derive(Debug, Clone)]
pub struct HttpProbe<'a> {
    pub method: http::Method,
    pub url: &'a str,
    pub timeout: Duration,
    /// Read up to this many bytes of the body (0: the body is not read).
    pub read_body: usize,
    /// A PEM file of extra CA certificates to trust.
    pub ca_file: Option<&'a str>,
}

/// Runs probes, each under the guard of its policy.
pub struct Prober {
    policy: Arc<OutboundPolicy>,
    /// One client per CA file (`None`: the system's roots only).
    clients: Mutex<HashMap<Option<String>, reqwest::Client>>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Reads a PEM file of CA certificates, or says why it cannot be used.
pub fn read_ca_file(path: &str) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA file {path}: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| format!("the CA file {path} holds no PEM certificate"))?;
    if certs.is_empty() {
        return Err(format!("the CA file {path} holds no PEM certificate"));
    }
    Ok(certs)
}

impl Prober {
    pub fn new(policy: OutboundPolicy) -> Prober {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Prober {
            policy: Arc::new(policy),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    fn client(&self, ca_file: Option<&str>) -> Result<reqwest::Client, String> {
        let key = ca_file.map(str::to_string);
        if let Some(c) = self.clients.lock().expect("client cache").get(&key) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .dns_resolver(GuardedResolver::new(Arc::clone(&self.policy)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_info(true)
            .user_agent(USER_AGENT)
            // Every run opens its own connection, as a new visitor would: a kept-alive one
            // would hide a server that accepts no new connections, and keep showing a
            // certificate that was since replaced.
            .pool_max_idle_per_host(0);
        if let Some(path) = ca_file {
            builder = builder.tls_certs_merge(read_ca_file(path)?);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", root_cause(&e)))?;
        self.clients
            .lock()
            .expect("client cache")
            .insert(key, client.clone());
        Ok(client)
    }

    /// Sends one request and reads its status, the start of its body if asked, and the peer
    /// certificate's expiry.
    pub async fn http(&self, req: HttpProbe<'_>) -> Probe {
        let started = Instant::now();
        let url = match self.policy.check_url(req.url) {
            Ok(url) => url,
            Err(refusal) => return Probe::failed(started, refusal.to_string()),
        };
        let target = host_and_port(&url);
        let client = match self.client(req.ca_file) {
            Ok(c) => c,
            Err(e) => return Probe::failed(started, e),
        };
        let work = async {
            let mut response = client
                .request(req.method.clone(), url)
                .send()
                .await
                .map_err(|e| describe(e, &target))?;
            let cert_not_after = response
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|info| info.peer_certificate())
                .and_then(not_after);
            let status = response.status().as_u16();
            let mut body = None;
            if req.read_body > 0 {
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(|e| describe(e, &target))? {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() >= req.read_body {
                        bytes.truncate(req.read_body);
                        break;
                    }
                }
                body = Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            Ok::<_, String>((status, body, cert_not_after))
        };
        match tokio::time::timeout(req.timeout, work).await {
            Ok(Ok((status, body, cert_not_after))) => Probe {
                status: Some(status),
                latency: started.elapsed(),
                body,
                error: None,
                cert_not_after,
            },
            Ok(Err(e)) => Probe::failed(started, e),
            Err(_) => Probe::failed(
                started,
                format!(
                    "no answer from {target} within {}s",
                    req.timeout.as_secs_f64()
                ),
            ),
        }
    }

    /// Connects to `host:port` and closes the connection at once.
    pub async fn tcp(&self, host: &str, port: u16, timeout: Duration) -> Probe {
        let started = Instant::now();
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let work = async {
            let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => {
                    self.policy.check_ip(ip).map_err(|r| r.to_string())?;
                    vec![SocketAddr::new(ip, port)]
                }
                Err(_) => {
                    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                        .await
                        .map_err(|e| format!("could not resolve {host}: {e}"))?
                        .collect();
                    if found.is_empty() {
                        return Err(format!("the name {host} has no addresses"));
                    }
                    let ips: Vec<IpAddr> = found.iter().map(SocketAddr::ip).collect();
                    self.policy
                        .check_resolved(host, &ips)
                        .map_err(|r| r.to_string())?;
                    found
                }
            };
            let mut last = String::new();
            for addr in addrs {
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(stream) => {
                        drop(stream);
                        return Ok(());
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            Err(format!("could not connect to {target}: {last}"))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(())) => Probe {
                latency: started.elapsed(),
                ..Probe::default()
            },
            Ok(Err(e)) => Probe::failed(started, e),
            Err(_) => Probe::failed(
                started,
                format!(
                    "could not connect to {target} within {}s",
                    timeout.as_secs_f64()
                ),
            ),
        }
    }

    /// Resolves a host name now and judges every address it has, as a probe would: for
    /// refusing a target when a check is made.
    pub async fn check_host(&self, host: &str) -> Result<(), String> {
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return self.policy.check_ip(ip).map_err(|r| r.to_string());
        }
        let found =
            tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, 0)))
                .await
                .map_err(|_| format!("the name {host} did not resolve within 5s"))?
                .map_err(|e| format!("the name {host} does not resolve: {e}"))?;
        let ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
        if ips.is_empty() {
            return Err(format!("the name {host} has no addresses"));
        }
        self.policy
            .check_resolved(host, &ips)
            .map_err(|r| r.to_string())
    }
}

/// A short reason for a failed request, naming the host and port only.
fn describe(err: reqwest::Error, target: &str) -> String {
    let err = err.without_url();
    if let Some(refusal) = find_source::<DnsRefusal>(&err) {
        return refusal.to_string();
    }
    format!("could not reach {target}: {}", root_cause(&err))
}

/// The `notAfter` of a DER certificate.
fn not_after(der: &[u8]) -> Option<Timestamp> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Timestamp::from_second(cert.validity().not_after.timestamp()).ok()
}
