//! Vault / OpenBao transit key source (spec §7.4): the data key is wrapped with
//! `PUT {address}/v1/{engine}/encrypt/{key}` and unwrapped with `…/decrypt/{key}`.
//!
//! The address comes from the file's `vault_address` (as sops: `VAULT_ADDR` is not used); the
//! token from `VAULT_TOKEN` or `~/.vault-token`; `VAULT_NAMESPACE`, `VAULT_CACERT` and
//! `VAULT_SKIP_VERIFY` apply. Calls run on a private thread with its own runtime, so the
//! key source works from sync code and from inside an async runtime alike.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::sops::metadata::VaultKey;

/// Transit encrypt/decrypt of a data key (or Shamir share). Implemented over HTTP here; the
/// Vault backend's client can provide its own implementation.
pub trait Transit: Send + Sync {
    /// Wraps `plaintext`; returns the `vault:v1:…` ciphertext.
    fn encrypt(&self, key: &VaultKey, plaintext: &[u8]) -> Result<String, String>;
    /// Unwraps a `vault:v1:…` ciphertext.
    fn decrypt(&self, key: &VaultKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, String>;
}

/// The built-in HTTP transit client.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpTransit;

fn token() -> Result<Zeroizing<String>, String> {
    if let Ok(t) = std::env::var("VAULT_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(Zeroizing::new(t.trim().to_string()));
    }
    let home = std::env::var_os("HOME").ok_or("no Vault token: set VAULT_TOKEN")?;
    let path = std::path::Path::new(&home).join(".vault-token");
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Zeroizing::new(t.trim().to_string())),
        Err(_) => Err("no Vault token: set VAULT_TOKEN (or write ~/.vault-token)".into()),
    }
}

fn client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .connect_timeout(std::time::Duration::from_secs(10));
    if let Some(ca) = std::env::var_os("VAULT_CACERT").filter(|v| !v.is_empty()) {
        let pem = std::fs::read(&ca)
            .map_err(|e| format!("VAULT_CACERT {}: {e}", std::path::Path::new(&ca).display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("VAULT_CACERT: {e}"))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if matches!(
        std::env::var("VAULT_SKIP_VERIFY").as_deref(),
        Ok("1" | "true" | "TRUE" | "True" | "t")
    ) {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Runs one transit call (`op` = `encrypt`/`decrypt`) and returns `data.<field>`.
fn call(
    key: &VaultKey,
    op: &str,
    body: Zeroizing<Vec<u8>>,
    field: &'static str,
) -> Result<Zeroizing<String>, String> {
    let url = format!(
        "{}/v1/{}/{op}/{}",
        key.vault_address.trim_end_matches('/'),
        key.engine_path,
        key.key_name
    );
    let what = format!("{}/{op}/{}", key.engine_path, key.key_name);
    let token = token()?;
    let run = move || -> Result<Zeroizing<String>, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        rt.block_on(async move {
            let mut req = client()?
                .put(&url)
                .header("X-Vault-Token", token.as_str())
                .header("X-Vault-Request", "true")
                .header("Content-Type", "application/json")
                .body(body.to_vec());
            if let Ok(ns) = std::env::var("VAULT_NAMESPACE")
                && !ns.is_empty()
            {
                req = req.header("X-Vault-Namespace", ns);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("request to {url} failed: {e}"))?;
            let status = resp.status();
            let bytes = Zeroizing::new(resp.bytes().await.map_err(|e| e.to_string())?.to_vec());
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            if !status.is_success() {
                let errors = v
                    .get("errors")
                    .and_then(|e| e.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                return Err(format!("Vault answered {status}: {errors}"));
            }
            v.get("data")
                .and_then(|d| d.get(field))
                .and_then(|p| p.as_str())
                .map(|s| Zeroizing::new(s.to_string()))
                .ok_or_else(|| format!("Vault response has no data.{field}"))
        })
    };
    std::thread::scope(|s| {
        s.spawn(run)
            .join()
            .unwrap_or_else(|_| Err("transit call panicked".into()))
    })
    .map_err(|e| format!("failed to {op} sops data key with Vault transit backend '{what}': {e}"))
}

impl Transit for HttpTransit {
    fn encrypt(&self, key: &VaultKey, plaintext: &[u8]) -> Result<String, String> {
        // Base64 needs no JSON escaping; the body stays in a zeroizing buffer.
        let mut body = Zeroizing::new(Vec::with_capacity(plaintext.len() * 2 + 16));
        body.extend_from_slice(b"{\"plaintext\":\"");
        body.extend_from_slice(Zeroizing::new(B64.encode(plaintext)).as_bytes());
        body.extend_from_slice(b"\"}");
        let ct = call(key, "encrypt", body, "ciphertext")?;
        Ok(ct.to_string())
    }

    fn decrypt(&self, key: &VaultKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let body = serde_json::to_vec(&serde_json::json!({ "ciphertext": ciphertext }))
            .map_err(|e| e.to_string())?;
        let pt = call(key, "decrypt", Zeroizing::new(body), "plaintext")?;
        B64.decode(pt.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| "Vault transit returned a plaintext that is not base64".to_string())
    }
}
