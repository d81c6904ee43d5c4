//! `[console]` in the config: the console's pages on the `[health]` listener, the token that
//! guards them when that listener is not loopback, and the certificate that makes the listener
//! HTTPS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

/// `[console]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSpec {
    /// An environment variable holding the token (needed off loopback).
    pub token_env: Option<String>,
    /// Or a file holding it.
    pub token_file: Option<PathBuf>,
    /// A PEM certificate chain (server first): the listener then speaks HTTPS only.
    pub cert_file: Option<PathBuf>,
    /// Its PEM private key.
    pub key_file: Option<PathBuf>,
}

/// The listener's TLS settings, read and checked once at start.
#[derive(Clone)]
pub struct Tls {
    /// The files' bytes, to tell a changed certificate apart.
    pem: (Vec<u8>, Vec<u8>),
    pub server: Arc<rustls::ServerConfig>,
}

impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        self.pem == other.pem
    }
}

impl Eq for Tls {}

impl Tls {
    /// Reads and checks `cert_file` and `key_file`; what is wrong names the file.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Tls, String> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let (cert_pem, key_pem) = (read(cert_file)?, read(key_file)?);
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem).collect::<Result<_, _>>().map_err(|e| format!("{}: not a PEM certificate chain ({e})", cert_file.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: holds no certificate", cert_file.display()));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("{}: not a PEM private key ({e})", key_file.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| format!("{} and {} do not make a TLS server: {e}", cert_file.display(), key_file.display()))?;
        Ok(Tls { pem: (cert_pem, key_pem), server: Arc::new(server) })
    }
}

/// The validated console settings.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub spec: ConsoleSpec,
    /// The token a browser must present (`None`: loopback only, no token).
    pub token: Option<String>,
    /// HTTPS for the whole listener, when a certificate is given.
    pub tls: Option<Tls>,
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig").field("spec", &self.spec).field("token", &self.token.as_ref().map(|_| "***")).field("tls", &self.tls.is_some()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_certificate_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let err = |r: Result<Tls, String>| r.err().expect("refused");
        assert!(err(Tls::load(&cert, &key)).starts_with(&format!("cannot read {}", cert.display())));
        std::fs::write(&cert, "not pem at all\n").unwrap();
        std::fs::write(&key, "nor this\n").unwrap();
        assert_eq!(err(Tls::load(&cert, &key)), format!("{}: holds no certificate", cert.display()));
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let e = err(Tls::load(&cert, &key));
        assert!(e.starts_with(&format!("{}: not a PEM private key", key.display())), "{e}");
    }
}
