//! HTTPS on the listener: the certificate (generated or given), the rustls configuration, and a
//! TLS listener for `axum::serve`.
//!
//! With `tls.enabled` and no `tls.cert`/`tls.key`, a local CA and a server certificate for
//! `localhost`, `127.0.0.1`, `::1` and Microsoft's host names (`crate::hosts`) signed by it are
//! generated once into `tls.dir` (`ca.pem`, `cert.pem`, `key.pem`, and `names.txt`, the names it
//! was made for) and reused on later starts while the names stay the same. The CA's private key is never written: it
//! signs the one server certificate and is dropped, so trusting `ca.pem` trusts nothing else.
//! rustls runs on the `ring` provider.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;

/// A handshake that has not finished in this time is dropped, so a silent client cannot hold a slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const ACCEPT_QUEUE: usize = 256;

/// What is served, and what a client must trust to accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The generated local CA; `None` when the certificate was given with `tls.cert`.
    pub ca: Option<PathBuf>,
    /// True when this start generated the files (false when they were reused or given).
    pub generated: bool,
}

/// Load or generate the certificate named by the configuration (`config::Tls`), with the rustls
/// configuration that serves it; `None` when TLS is off. `year` (from the injected clock) sets the
/// certificates' validity: from last year, for 20 years.
pub fn setup(config: &Config, year: i32) -> anyhow::Result<Option<(TlsFiles, Arc<rustls::ServerConfig>)>> {
    if !config.tls.is_on() {
        return Ok(None);
    }
    let files = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => TlsFiles { cert: cert.into(), key: key.into(), ca: None, generated: false },
        (Some(_), None) | (None, Some(_)) => anyhow::bail!("tls.cert and tls.key must be given together"),
        (None, None) => ensure_local_ca(&config.tls_dir(), year)?,
    };
    let config = server_config(&files.cert, &files.key)?;
    Ok(Some((files, config)))
}

/// The names the generated server certificate holds: the local ones, and Microsoft's hosts
/// (`crate::hosts`), so clients fixed to those names can be pointed at the server.
pub fn server_names() -> Vec<String> {
    ["localhost", "127.0.0.1", "::1"].iter().chain(crate::hosts::MICROSOFT_HOSTS).map(|s| s.to_string()).collect()
}

/// Reuse `ca.pem`, `cert.pem` and `key.pem` in `dir` when all three exist and were made for
/// today's names (`names.txt`, one a line); otherwise generate them (a set from before the
/// Microsoft host names is replaced, CA included).
pub fn ensure_local_ca(dir: &Path, year: i32) -> anyhow::Result<TlsFiles> {
    let (ca, cert, key, names) = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"), dir.join("names.txt"));
    let wanted = server_names().join("\n") + "\n";
    let current = std::fs::read_to_string(&names).is_ok_and(|n| n == wanted);
    if ca.is_file() && cert.is_file() && key.is_file() && current {
        return Ok(TlsFiles { cert, key, ca: Some(ca), generated: false });
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the TLS directory {}", dir.display()))?;
    let generated = generate(year)?;
    write_file(&key, generated.key_pem.as_bytes(), true)?;
    write_file(&cert, generated.cert_pem.as_bytes(), false)?;
    write_file(&ca, generated.ca_pem.as_bytes(), false)?;
    std::fs::write(&names, wanted).with_context(|| format!("cannot write {}", names.display()))?;
    Ok(TlsFiles { cert, key, ca: Some(ca), generated: true })
}

/// PEM text of a fresh local CA certificate, and of a server certificate and key signed by it.
pub struct GeneratedCertificate {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn generate(year: i32) -> anyhow::Result<GeneratedCertificate> {
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let not_before = date_time_ymd(year - 1, 1, 1);
    let not_after = date_time_ymd(year + 20, 1, 1);

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "pbi-access local CA");
    ca.distinguished_name.push(DnType::OrganizationName, "pbi-access");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut server = CertificateParams::new(server_names())?;
    server.distinguished_name.push(DnType::CommonName, "localhost");
    server.distinguished_name.push(DnType::OrganizationName, "pbi-access");
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = not_before;
    server.not_after = not_after;
    let cert = server.signed_by(&key, &issuer)?;
    Ok(GeneratedCertificate { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// Write through a temporary file and a rename, so a crash never leaves half a PEM behind.
fn write_file(path: &Path, contents: &[u8], private: bool) -> anyhow::Result<()> {
    let tmp = path.with_extension("pem.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut file = options.open(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        io::Write::write_all(&mut file, contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1) for a PEM chain and key.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate chain {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
    let private = PrivateKeyDer::from_pem_file(key).with_context(|| format!("cannot read the private key {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .with_context(|| format!("{} does not fit {}", key.display(), cert.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener for `axum::serve` that yields connections after their TLS handshake. Handshakes
/// run in their own tasks, so a slow or silent client delays nobody else.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, incoming) = mpsc::channel(ACCEPT_QUEUE);
        let accept_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off as axum does, then retry.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                crate::app::no_delay(&stream);
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { incoming, local_addr, accept_task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept task only ends when the listener is dropped; wait for shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_are_kept_and_load_into_rustls() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_local_ca(dir.path(), 2026).unwrap();
        assert!(first.generated);
        let ca = std::fs::read_to_string(first.ca.as_ref().unwrap()).unwrap();
        let again = ensure_local_ca(dir.path(), 2026).unwrap();
        assert!(!again.generated, "an existing set is reused");
        assert_eq!(std::fs::read_to_string(again.ca.as_ref().unwrap()).unwrap(), ca);
        server_config(&again.cert, &again.key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&again.key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // A set made for other names (before the Microsoft hosts) is replaced whole.
        std::fs::write(dir.path().join("names.txt"), "localhost\n").unwrap();
        assert!(ensure_local_ca(dir.path(), 2026).unwrap().generated);
        // A partial set is replaced whole.
        std::fs::remove_file(dir.path().join("ca.pem")).unwrap();
        let regenerated = ensure_local_ca(dir.path(), 2026).unwrap();
        assert!(regenerated.generated);
    }

    #[test]
    fn a_key_that_does_not_fit_the_certificate_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (generate(2026).unwrap(), generate(2026).unwrap());
        std::fs::write(dir.path().join("cert.pem"), a.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), b.key_pem).unwrap();
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        assert!(server_config(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).is_err());
        assert!(server_config(&dir.path().join("empty.pem"), &dir.path().join("key.pem")).is_err());
        assert!(server_config(&dir.path().join("missing.pem"), &dir.path().join("key.pem")).is_err());
    }
}
