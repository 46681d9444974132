//! One certificate/key pair from its PEM files: read, parsed, checked, ready for rustls.
//!
//! Every way a pair can be unusable is a [`CertError`] naming the file and the problem, found
//! here, before any socket is bound (at start-up) or before the pair replaces a working one (on
//! reload). An expired or not yet valid certificate is not an error: clients refuse it, but an
//! operator whose renewal is a minute late should get a warning and a reload, not a server that
//! will not start.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Where one certificate/key pair comes from: the files, and optionally the server names it is
/// for (`--tls-cert FILE --tls-key FILE`, or a `[[tls_certs]]` entry of the TOML file). Paths
/// are used as given: a relative one is relative to the server's working directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertSpec {
    /// The certificate chain, PEM: the server's certificate first, then the intermediates that
    /// lead to the client's trust anchor (as ACME clients write `fullchain.pem`).
    pub cert: PathBuf,
    /// The private key, PEM: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`), unencrypted. It may be the same file as `cert`.
    pub key: PathBuf,
    /// The server names (SNI) this pair serves, each one the certificate covers. `None`: every
    /// DNS name of the certificate's subject alternative names.
    #[serde(default)]
    pub names: Option<Vec<String>>,
}

impl CertSpec {
    /// A pair serving every DNS name of its certificate.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            names: None,
        }
    }
}

/// What a loaded certificate says about itself, for logs and for choosing it by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The certificate file it came from.
    pub cert: PathBuf,
    /// The names it serves, lowercase (a `*.` wildcard matches one label).
    pub names: Vec<String>,
    /// Start of the validity period, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of the validity period, seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertInfo {
    /// Whether `now` is outside the certificate's validity period (clients will refuse it).
    pub fn is_outside_validity(&self, now: SystemTime) -> bool {
        let now = unix_seconds(now);
        now < self.not_before || now > self.not_after
    }
}

/// A pair loaded and checked: the rustls key and what it serves.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// The chain and the signing key, as rustls uses them.
    pub key: Arc<CertifiedKey>,
    /// Names and validity.
    pub info: CertInfo,
}

/// Why a certificate/key pair cannot be used. Each message names the file and the problem.
#[derive(Debug)]
pub enum CertError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// A file is not well-formed PEM (a section without its end line, bad base64).
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        problem: pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    NoCertificate(PathBuf),
    /// The key file holds no unencrypted private key (PKCS#8, SEC1 or PKCS#1).
    NoKey {
        /// The file.
        path: PathBuf,
        /// It holds an `ENCRYPTED PRIVATE KEY`, which the server cannot use without a
        /// passphrase.
        encrypted: bool,
    },
    /// The certificate is not a parseable X.509 certificate.
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        problem: String,
    },
    /// The key is of a type or size the crypto provider cannot sign with.
    UnusableKey {
        /// The key file.
        path: PathBuf,
        /// What rustls said.
        problem: rustls::Error,
    },
    /// The key is not the private half of the certificate's public key.
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A name given for the pair that the certificate does not cover.
    NameNotCovered {
        /// The certificate file.
        cert: PathBuf,
        /// The name given.
        name: String,
        /// The DNS names the certificate has.
        names: Vec<String>,
    },
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Pem { path, problem } => {
                write!(f, "{} is not valid PEM: {problem}", path.display())
            }
            Self::NoCertificate(path) => write!(
                f,
                "{} holds no certificate (no -----BEGIN CERTIFICATE----- section)",
                path.display()
            ),
            Self::NoKey {
                path,
                encrypted: true,
            } => write!(
                f,
                "{} holds an encrypted private key: give the server an unencrypted one \
                 (openssl pkey -in FILE -out KEY)",
                path.display()
            ),
            Self::NoKey { path, .. } => write!(
                f,
                "{} holds no private key (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY section)",
                path.display()
            ),
            Self::BadCertificate { path, problem } => write!(
                f,
                "{} holds a certificate that cannot be parsed: {problem}",
                path.display()
            ),
            Self::UnusableKey { path, problem } => {
                write!(f, "the key in {} cannot be used: {problem}", path.display())
            }
            Self::KeyMismatch { cert, key } => write!(
                f,
                "the key in {} does not match the certificate in {} (not its private key)",
                key.display(),
                cert.display()
            ),
            Self::NameNotCovered { cert, name, names } => write!(
                f,
                "the certificate in {} does not cover the name {name:?} given for it (it has: {})",
                cert.display(),
                if names.is_empty() {
                    "no DNS names".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        }
    }
}

impl std::error::Error for CertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Pem { problem, .. } => Some(problem),
            Self::UnusableKey { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

impl CertError {
    /// The file the problem is in (the key file for a mismatch).
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::Pem { path, .. }
            | Self::NoCertificate(path)
            | Self::NoKey { path, .. }
            | Self::BadCertificate { path, .. }
            | Self::UnusableKey { path, .. } => path,
            Self::KeyMismatch { key, .. } => key,
            Self::NameNotCovered { cert, .. } => cert,
        }
    }
}

/// Reads, parses and checks the pair `spec` names, with `provider` loading the key.
pub fn load(spec: &CertSpec, provider: &CryptoProvider) -> Result<LoadedCert, CertError> {
    let cert_pem = read(&spec.cert)?;
    let key_pem = if spec.key == spec.cert {
        cert_pem.clone()
    } else {
        read(&spec.key)?
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|problem| CertError::Pem {
            path: spec.cert.clone(),
            problem,
        })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate(spec.cert.clone()));
    }
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            let encrypted = contains(&key_pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----");
            return Err(CertError::NoKey {
                path: spec.key.clone(),
                encrypted,
            });
        }
        Err(problem) => {
            return Err(CertError::Pem {
                path: spec.key.clone(),
                problem,
            })
        }
    };
    let (dns_names, not_before, not_after) =
        describe(&chain[0]).map_err(|problem| CertError::BadCertificate {
            path: spec.cert.clone(),
            problem,
        })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|problem| CertError::UnusableKey {
            path: spec.key.clone(),
            problem,
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    // Both providers give the public key of every key type they load, so "unknown" cannot
    // happen with them; a provider that cannot tell is treated as a mismatch rather than
    // trusted blindly.
    if certified.keys_match().is_err() {
        return Err(CertError::KeyMismatch {
            cert: spec.cert.clone(),
            key: spec.key.clone(),
        });
    }
    let names = match &spec.names {
        None => dns_names,
        Some(given) => {
            let mut names = Vec::with_capacity(given.len());
            for name in given {
                let name = name.to_ascii_lowercase();
                if !dns_names.iter().any(|pattern| covers(pattern, &name)) {
                    return Err(CertError::NameNotCovered {
                        cert: spec.cert.clone(),
                        name,
                        names: dns_names,
                    });
                }
                names.push(name);
            }
            names
        }
    };
    Ok(LoadedCert {
        key: Arc::new(certified),
        info: CertInfo {
            cert: spec.cert.clone(),
            names,
            not_before,
            not_after,
        },
    })
}

/// A file's bytes.
fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The certificate's DNS names (lowercase) and its validity period, in Unix seconds.
fn describe(der: &CertificateDer<'_>) -> Result<(Vec<String>, i64, i64), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    if let Some(san) = cert.subject_alternative_name().map_err(|e| e.to_string())? {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                let dns = dns.to_ascii_lowercase();
                if !names.contains(&dns) {
                    names.push(dns);
                }
            }
        }
    }
    let validity = cert.validity();
    Ok((
        names,
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

/// Whether the certificate name `pattern` (lowercase, maybe `*.example.com`) covers `name`
/// (lowercase): equal, or a wildcard standing for exactly the first label (RFC 6125 6.4.3, as
/// browsers apply it).
pub(crate) fn covers(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

/// `t` as seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// A file's contents, hashed, for the poll option. Metadata would be cheaper but misses a
/// rewrite of the same size within one tick of the file system's coarse clock; a certificate
/// and key are a few KiB, read once per interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// The stamp of `path` now, `None` if it cannot be read.
    pub(crate) fn of(path: &Path) -> Option<Self> {
        use std::hash::{Hash as _, Hasher as _};
        let bytes = std::fs::read(path).ok()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        Some(Self(hasher.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(covers("example.com", "example.com"));
        assert!(!covers("example.com", "a.example.com"));
        assert!(covers("*.example.com", "a.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", ".example.com"));
        assert!(!covers("*.example.com", "a.example.org"));
    }
}
