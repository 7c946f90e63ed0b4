//! Building the reqwest client: TLS roots (`VAULT_CACERT`/`VAULT_CAPATH`), the client identity
//! (`VAULT_CLIENT_CERT`/`VAULT_CLIENT_KEY`) and `VAULT_SKIP_VERIFY`.
//!
//! reqwest panics when no rustls crypto provider is installed (this build has no default one),
//! so [`build_client`] installs the `ring` provider when nobody has (the CLI does it first
//! thing with `crate::cli::install_crypto_provider()`).

use std::path::Path;

use reqwest::{Certificate, Identity};
use zeroize::Zeroizing;

use super::config::VaultConfig;
use super::error::VaultError;

fn read(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| VaultError::config(format!("{what} {}: cannot read: {e}", path.display())))
}

fn certs_in(path: &Path, what: &str) -> Result<Vec<Certificate>, VaultError> {
    let pem = read(path, what)?;
    let certs = Certificate::from_pem_bundle(&pem).map_err(|e| {
        VaultError::config(format!(
            "{what} {}: not a PEM certificate bundle: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(VaultError::config(format!(
            "{what} {}: no PEM certificates in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// The CA certificates to trust instead of the system roots, if configured.
fn roots(config: &VaultConfig) -> Result<Vec<Certificate>, VaultError> {
    let mut out = Vec::new();
    if let Some(f) = &config.tls.ca_cert {
        out.extend(certs_in(f, "VAULT_CACERT")?);
    }
    if let Some(dir) = &config.tls.ca_path {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            VaultError::config(format!("VAULT_CAPATH {}: cannot read: {e}", dir.display()))
        })?;
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        files.sort();
        let before = out.len();
        for f in files {
            out.extend(certs_in(&f, "VAULT_CAPATH file")?);
        }
        if out.len() == before {
            return Err(VaultError::config(format!(
                "VAULT_CAPATH {}: no certificate files in the directory",
                dir.display()
            )));
        }
    }
    Ok(out)
}

fn identity(config: &VaultConfig) -> Result<Option<Identity>, VaultError> {
    match (&config.tls.client_cert, &config.tls.client_key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(VaultError::config(
            "VAULT_CLIENT_CERT is set but VAULT_CLIENT_KEY is not: set both or neither",
        )),
        (None, Some(_)) => Err(VaultError::config(
            "VAULT_CLIENT_KEY is set but VAULT_CLIENT_CERT is not: set both or neither",
        )),
        (Some(cert), Some(key)) => {
            let c = read(cert, "VAULT_CLIENT_CERT")?;
            let k = read(key, "VAULT_CLIENT_KEY")?;
            let mut pem = Zeroizing::new(Vec::with_capacity(c.len() + k.len() + 1));
            pem.extend_from_slice(&c);
            pem.push(b'\n');
            pem.extend_from_slice(&k);
            let id = Identity::from_pem(&pem).map_err(|e| {
                VaultError::config(format!(
                    "VAULT_CLIENT_CERT {} / VAULT_CLIENT_KEY {}: not a PEM certificate and \
                     private key: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            Ok(Some(id))
        }
    }
}

/// The redirect policy of the Vault client: same origin only, at most 5 hops; a cross-origin
/// redirect is not followed (the 3xx answer reaches the caller, which reports it).
pub(crate) fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same {
            attempt.stop()
        } else if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

pub(crate) fn build_client(config: &VaultConfig) -> Result<reqwest::Client, VaultError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one meanwhile: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("sealbridge/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(config.request_timeout)
        // The token travels in `X-Vault-Token`, which reqwest keeps on cross-origin redirects
        // (it strips only Authorization/Cookie): follow a redirect only to the same origin
        // (scheme, host, port) as the request, as Vault's standby forwarding does, at most 5.
        .redirect(same_origin_redirects())
        .tls_backend_rustls();
    let roots = roots(config)?;
    if !roots.is_empty() {
        b = b.tls_certs_only(roots);
    }
    if let Some(id) = identity(config)? {
        b = b.identity(id);
    }
    if config.tls.skip_verify {
        tracing::warn!(
            "VAULT_SKIP_VERIFY is set: the Vault server's certificate is NOT verified; anyone on \
             the network path can impersonate it and receive the token"
        );
        b = b.tls_danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| {
        VaultError::config(format!(
            "cannot set up the HTTP client: {}",
            crate::error::chain(&e)
        ))
    })
}
