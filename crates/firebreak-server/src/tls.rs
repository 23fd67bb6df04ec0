//! HTTPS: the certificate and key from PEM files, kept fresh while the server runs, and the
//! listener that takes TLS connections for [`axum::serve`] (docs/adr/0011).
//!
//! The files are read at start, and any problem stops the start with a message naming the
//! file. While serving, their modification times are looked at every [`RELOAD_EVERY`]; when
//! either changed, both are read again and new handshakes get the new certificate. A reload
//! that fails (a half-written file, a key that does not match) keeps the certificate in use
//! and logs a warning; the next change is tried again. No message shows a key's contents.
//!
//! Handshakes run in their own tasks, at most [`MAX_HANDSHAKES`] at once and each for at most
//! [`HANDSHAKE_TIMEOUT`], so a client that stalls its handshake holds up nobody else.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// How often the files' modification times are looked at.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// The most handshakes in progress at once; past it, new connections wait to be accepted.
pub const MAX_HANDSHAKES: usize = 256;
/// A handshake not finished by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the files were named, so a message can say what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetBy {
    /// `--tls-cert` and `--tls-key` (or `FIREBREAK_TLS_CERT` and `FIREBREAK_TLS_KEY`).
    Flags,
    /// `server.tls` in the configuration file.
    Config,
}

/// The PEM files HTTPS is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate, then any intermediates.
    pub cert: PathBuf,
    /// The certificate's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: PathBuf,
    pub set_by: SetBy,
}

impl TlsFiles {
    fn cert_setting(&self) -> &'static str {
        match self.set_by {
            SetBy::Flags => "--tls-cert",
            SetBy::Config => "server.tls.cert in the configuration file",
        }
    }

    fn key_setting(&self) -> &'static str {
        match self.set_by {
            SetBy::Flags => "--tls-key",
            SetBy::Config => "server.tls.key in the configuration file",
        }
    }
}

/// Why the certificate or key could not be used. Names the file and what to do; never shows
/// what a key file holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

fn read_file(path: &Path, what: &str, setting: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            io::ErrorKind::NotFound => "it does not exist".to_string(),
            io::ErrorKind::PermissionDenied => {
                "permission denied; make it readable by the user Firebreak runs as".to_string()
            }
            _ => e.to_string(),
        };
        TlsError(format!(
            "cannot read the TLS {what} file {} ({setting}): {why}",
            path.display()
        ))
    })
}

/// Reads the certificate chain and key and checks that they belong together.
pub fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read_file(&files.cert, "certificate", files.cert_setting())?;
    let key_pem = read_file(&files.key, "private key", files.key_setting())?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            TlsError(format!(
                "{} ({}) is not a readable PEM file: {e}; it should hold the server's \
                 certificate, then any intermediates, each as -----BEGIN CERTIFICATE-----",
                files.cert.display(),
                files.cert_setting()
            ))
        })?;
    if certs.is_empty() {
        let hint = if looks_like_key(&cert_pem) {
            "; it holds a private key: are the certificate and key files swapped?"
        } else {
            ""
        };
        return Err(TlsError(format!(
            "{} ({}) holds no certificate: expected PEM blocks starting with -----BEGIN \
             CERTIFICATE-----, the server's certificate first{hint}",
            files.cert.display(),
            files.cert_setting()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        let hint = if key_pem
            .windows(b"BEGIN CERTIFICATE".len())
            .any(|w| w == b"BEGIN CERTIFICATE")
        {
            "; it holds a certificate: are the certificate and key files swapped?"
        } else {
            ""
        };
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "holds no private key".to_string(),
            other => format!("is not a readable PEM file ({other})"),
        };
        TlsError(format!(
            "{} ({}) {why}: expected one -----BEGIN PRIVATE KEY----- (PKCS#8), -----BEGIN RSA \
             PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY----- block{hint}",
            files.key.display(),
            files.key_setting()
        ))
    })?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|_| {
        TlsError(format!(
            "the private key in {} ({}) is not one Firebreak can use: use an RSA (2048 bits or \
             more), ECDSA P-256 or P-384, or Ed25519 key",
            files.key.display(),
            files.key_setting()
        ))
    })?;
    let certified = CertifiedKey::new(certs, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError(format!(
            "the private key in {} does not belong to the certificate in {}: give the key the \
             certificate was issued for (the server's certificate must come first in {})",
            files.key.display(),
            files.cert.display(),
            files.cert.display()
        ))),
        Err(e) => Err(TlsError(format!(
            "the first certificate in {} ({}) cannot be read ({e}); it should be the server's \
             own certificate in PEM",
            files.cert.display(),
            files.cert_setting()
        ))),
    }
}

fn looks_like_key(pem: &[u8]) -> bool {
    pem.windows(b"PRIVATE KEY-----".len())
        .any(|w| w == b"PRIVATE KEY-----")
}

/// The certificate handshakes are answered with; swapped when the files change.
struct Current(RwLock<Arc<CertifiedKey>>);

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Current(..)")
    }
}

impl Current {
    fn get(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, key: CertifiedKey) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// The certificate Firebreak serves HTTPS with, read from its files and reloaded when they
/// change.
#[derive(Clone)]
pub struct Certificate {
    files: TlsFiles,
    current: Arc<Current>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// What a file looked like at the last look: its modification time and length.
type Stamp = Option<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

impl Certificate {
    /// Reads the files; fails with a message naming the file when either cannot be used.
    pub fn load(files: TlsFiles) -> Result<Certificate, TlsError> {
        let key = load(&files)?;
        Ok(Certificate {
            files,
            current: Arc::new(Current(RwLock::new(Arc::new(key)))),
        })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// rustls's server configuration: ring, TLS 1.2 and 1.3, HTTP/1.1, and this
    /// certificate as it is at each handshake.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError(format!("cannot set up TLS: {e}")))?
                .with_no_client_auth()
                .with_cert_resolver(self.current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Reads both files again now; on failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = load(&self.files)?;
        self.current.set(key);
        Ok(())
    }

    /// Looks at the files every [`RELOAD_EVERY`] until `shutdown`, reloading when either
    /// changed.
    pub async fn keep_fresh(self, shutdown: CancellationToken) {
        let stamps = |files: &TlsFiles| (stamp(&files.cert), stamp(&files.key));
        let mut seen = stamps(&self.files);
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let this = self.clone();
            let checked = tokio::task::spawn_blocking(move || {
                let now = stamps(&this.files);
                if now == seen {
                    return (now, None);
                }
                (now, Some(this.reload()))
            })
            .await;
            let Ok((now, outcome)) = checked else {
                continue;
            };
            seen = now;
            match outcome {
                None => {}
                Some(Ok(())) => tracing::info!(
                    cert = %self.files.cert.display(),
                    "the TLS certificate files changed; new connections get the new certificate"
                ),
                Some(Err(e)) => tracing::warn!(
                    error = %e,
                    "the TLS certificate files changed but cannot be used; still serving the \
                     previous certificate"
                ),
            }
        }
    }
}

/// A TCP listener whose connections have finished their TLS handshake, for [`axum::serve`].
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Takes connections on `tcp` and runs their handshakes with `config`.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let accepting = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(TlsListener {
            ready,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // axum drops the listener when it stops taking connections (graceful shutdown).
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task is gone: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            _ = ready.closed() => return,
            permit = handshakes.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = ready.closed() => return,
            accepted = tcp.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) {
                        // Out of file descriptors, most likely: wait for some to close.
                        tracing::error!(error = %e, "could not accept a connection");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        crate::no_delay(&stream);
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}
