//! TLS to the server, with libpq's `sslmode`s, on rustls: how far the
//! server is trusted, the root certificates that authenticate it, and the
//! [`Connector`] that opens every connection of a provider instance.
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` | if the server offers it | not checked |
//! | `require` | always | not checked; with a root certificate, as `verify-ca` |
//! | `verify-ca` | always | signed by a root certificate |
//! | `verify-full` | always | signed by a root certificate, and names the host |
//!
//! The root certificates come from `sslrootcert`, else from libpq's
//! default file `~/.postgresql/root.crt` when it exists. A connection to a
//! Unix socket never uses TLS (as libpq).

use std::{ffi::OsString, fmt, path::PathBuf, str::FromStr, sync::Arc};

use postgres::{config::Host, Client, NoTls};
use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        verify_server_cert_signed_by_trust_anchor, verify_server_name,
    },
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{pem::PemObject, CertificateDer, ServerName, UnixTime},
    server::ParsedCertificate,
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::Deserialize;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`: whether to use TLS, and how far to trust the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS if the server offers it, plain otherwise; the server is not
    /// authenticated, so this guards only against eavesdroppers.
    #[default]
    Prefer,
    /// TLS or no connection; the server is not authenticated unless a root
    /// certificate is given (then as [`SslMode::VerifyCa`]).
    Require,
    /// TLS, and the server's certificate must be signed by a root certificate.
    VerifyCa,
    /// As [`SslMode::VerifyCa`], and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// The modes, as written in a configuration.
    pub const NAMES: [&'static str; 5] =
        ["disable", "prefer", "require", "verify-ca", "verify-full"];

    /// The mode as written in a configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(format!(
                    "`sslmode` is {s:?}: use one of {}",
                    SslMode::NAMES.join(", ")
                ))
            }
        })
    }
}

/// What the server's certificate must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing: the connection is encrypted, the server not authenticated.
    Nothing,
    /// It is signed by a root certificate.
    Signature,
    /// It is signed by a root certificate and names the host.
    SignatureAndName,
}

/// Where the root certificates come from: `sslrootcert`, or libpq's
/// default file in the home folder `home` when it exists.
fn root_cert_path(sslrootcert: Option<&str>, home: Option<OsString>) -> Option<PathBuf> {
    match sslrootcert {
        Some(path) => Some(PathBuf::from(path)),
        None => home
            .map(|home| PathBuf::from(home).join(".postgresql").join("root.crt"))
            .filter(|default| default.is_file()),
    }
}

/// Reads every certificate of a PEM file.
fn read_roots(path: &PathBuf) -> Result<RootCertStore, String> {
    let shown = path.display();
    if path.as_os_str() == "system" {
        return Err(
            "`sslrootcert` \"system\" is not supported: give the path of a PEM file of root \
             certificates, e.g. /etc/ssl/certs/ca-certificates.crt"
                .to_string(),
        );
    }
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read `sslrootcert` {shown}: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        let cert = cert.map_err(|e| format!("cannot read `sslrootcert` {shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("`sslrootcert` {shown} holds an unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "`sslrootcert` {shown} holds no certificate: give a PEM file with \
             -----BEGIN CERTIFICATE----- blocks"
        ));
    }
    Ok(roots)
}

/// Opens the connections of one provider instance: the client settings
/// and the TLS they ask for.
#[derive(Clone)]
pub(crate) struct Connector {
    config: postgres::Config,
    tls: Option<MakeRustlsConnect>,
}

impl Connector {
    /// The connector for `config` with `mode` and `sslrootcert`; sets the
    /// client's own TLS mode. Errors name the problem and the field.
    pub(crate) fn new(
        config: postgres::Config,
        mode: SslMode,
        sslrootcert: Option<&str>,
    ) -> Result<Self, String> {
        let roots = root_cert_path(sslrootcert, std::env::var_os("HOME"));
        Self::with_roots(config, mode, roots)
    }

    /// As [`Connector::new`], with the root certificates' file (if any) found.
    fn with_roots(
        mut config: postgres::Config,
        mode: SslMode,
        roots: Option<PathBuf>,
    ) -> Result<Self, String> {
        let sockets_only = config
            .get_hosts()
            .iter()
            .all(|host| matches!(host, Host::Unix(_)));
        if mode == SslMode::Disable || sockets_only {
            config.ssl_mode(postgres::config::SslMode::Disable);
            return Ok(Connector { config, tls: None });
        }
        let check = match (mode, &roots) {
            (SslMode::Prefer, _) | (SslMode::Require, None) => Check::Nothing,
            (SslMode::Require | SslMode::VerifyCa, Some(_)) => Check::Signature,
            (SslMode::VerifyFull, Some(_)) => Check::SignatureAndName,
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(format!(
                    "`sslmode` {mode} checks the server's certificate against a root certificate: \
                     set `sslrootcert` to the PEM file of the CA that signed it \
                     (the default, ~/.postgresql/root.crt, does not exist)"
                ))
            }
            // Returned above.
            (SslMode::Disable, _) => Check::Nothing,
        };
        let roots = match (check, roots) {
            (Check::Nothing, _) | (_, None) => None,
            (_, Some(path)) => Some(Arc::new(read_roots(&path)?)),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(ServerCheck {
            roots,
            check_name: check == Check::SignatureAndName,
            provider: Arc::clone(&provider),
        });
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.ssl_mode(match mode {
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        Ok(Connector {
            config,
            tls: Some(MakeRustlsConnect::new(tls)),
        })
    }

    /// The client settings (TLS mode included).
    #[cfg(test)]
    pub(crate) fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// Opens one connection, bounded by the connect timeout per address.
    pub(crate) fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
    }
}

/// Checks the server's certificate as its [`Check`] asks; the handshake's
/// signatures are always checked, so the server holds the certificate's key.
#[derive(Debug)]
struct ServerCheck {
    /// `None` when the certificate is not checked.
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
            if self.check_name {
                verify_server_name(&cert, server_name)?;
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp() -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host("db.example").user("u").dbname("d");
        c
    }

    #[test]
    fn modes_read_as_libpq_writes_them() {
        for name in SslMode::NAMES {
            assert_eq!(name.parse::<SslMode>().unwrap().as_str(), name);
        }
        let err = "allow".parse::<SslMode>().unwrap_err();
        assert!(err.contains("verify-full"), "{err}");
        assert_eq!(SslMode::default(), SslMode::Prefer);
    }

    #[test]
    fn client_tls_mode_follows_sslmode() {
        use postgres::config::SslMode as Client;
        let mode = |m| Connector::new(tcp(), m, None).unwrap();
        assert_eq!(
            mode(SslMode::Disable).config().get_ssl_mode(),
            Client::Disable
        );
        assert!(mode(SslMode::Disable).tls.is_none());
        assert_eq!(
            mode(SslMode::Prefer).config().get_ssl_mode(),
            Client::Prefer
        );
        assert_eq!(
            mode(SslMode::Require).config().get_ssl_mode(),
            Client::Require
        );
        let mut socket = postgres::Config::new();
        socket.host("/var/run/postgresql").user("u").dbname("d");
        let c = Connector::new(socket, SslMode::Require, None).unwrap();
        assert_eq!(
            c.config().get_ssl_mode(),
            Client::Disable,
            "no TLS on a Unix socket"
        );
    }

    #[test]
    fn verification_without_a_root_certificate_says_what_to_set() {
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            let err = Connector::with_roots(tcp(), mode, None).err().unwrap();
            assert!(err.contains("set `sslrootcert`"), "{err}");
            assert!(err.contains("~/.postgresql/root.crt"), "{err}");
        }
        let missing = Connector::new(tcp(), SslMode::VerifyFull, Some("/nonexistent/ca.pem"))
            .err()
            .unwrap();
        assert!(
            missing.contains("cannot read `sslrootcert` /nonexistent/ca.pem"),
            "{missing}"
        );
        let err = Connector::new(tcp(), SslMode::Require, Some("system"))
            .err()
            .unwrap();
        assert!(err.contains("ca-certificates.crt"), "{err}");
    }

    #[test]
    fn the_default_root_file_is_used_only_when_it_exists() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(root_cert_path(None, Some(home.path().into())), None);
        let default = home.path().join(".postgresql").join("root.crt");
        std::fs::create_dir(default.parent().unwrap()).unwrap();
        std::fs::write(&default, "").unwrap();
        assert_eq!(
            root_cert_path(None, Some(home.path().into())),
            Some(default)
        );
        assert_eq!(
            root_cert_path(Some("/etc/ca.pem"), Some(home.path().into())),
            Some(PathBuf::from("/etc/ca.pem")),
            "`sslrootcert` wins"
        );
        assert_eq!(root_cert_path(None, None), None);
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = Connector::new(tcp(), SslMode::VerifyFull, path.to_str())
            .err()
            .unwrap();
        assert!(err.contains("holds no certificate"), "{err}");
    }
}
