//! Vault transit for sops `hc_vault` keys through the project's one Vault client: the
//! implementation of [`crate::sops::keys::Transit`] (the trait lives with the sops format code,
//! which imports no network client). The address guard and the transit-mount check are here;
//! see `crate::sops::keys::hc_vault` for the rule.

use std::future::Future;

use zeroize::Zeroizing;

use super::VaultClient;
use crate::sops::keys::Transit;
use crate::sops::metadata::VaultKey;

/// Vault transit through [`VaultClient`], only towards the client's own (configured) address.
///
/// The client is given by the application context (`crate::context`); the calls run on
/// the process's runtime ([`crate::runtime`]), so the key source works from synchronous code
/// and from the runtime's blocking threads alike (the render engine decrypts in
/// `spawn_blocking`).
pub struct VaultTransit {
    client: Result<VaultClient, String>,
}

impl std::fmt::Debug for VaultTransit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultTransit")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn not_configured(why: &str) -> String {
    format!(
        "no Vault is configured for sops hc_vault keys ({why}); set VAULT_ADDR to the key's \
         server and the Vault credentials (docs/vault.md)"
    )
}

impl VaultTransit {
    /// Transit through `client` (shared: same token, same deadline as its other users).
    pub fn new(client: VaultClient) -> Self {
        VaultTransit { client: Ok(client) }
    }

    /// No Vault: every `hc_vault` key fails with "not configured: `why`".
    pub fn unconfigured(why: impl Into<String>) -> Self {
        VaultTransit {
            client: Err(not_configured(&why.into())),
        }
    }

    fn client(&self) -> Result<&VaultClient, String> {
        self.client.as_ref().map_err(Clone::clone)
    }

    /// The guard: the client for `key`, or why the key is skipped. Nothing is sent anywhere
    /// when this fails.
    fn client_for(&self, key: &VaultKey) -> Result<&VaultClient, String> {
        let client = self.client()?;
        if client.serves(&key.vault_address) {
            // The request goes to `{addr}/v1/{engine_path}/decrypt/{key_name}`: a file must
            // not be able to point it at another path of the trusted server.
            check_transit_path("engine_path", &key.engine_path, true)?;
            check_transit_path("key_name", &key.key_name, false)?;
            return Ok(client);
        }
        let msg = format!(
            "skipped: the file names the Vault server {:?}, which is not the configured Vault \
             address {} (VAULT_ADDR); refusing to send the Vault credentials there",
            key.vault_address,
            client.address()
        );
        tracing::warn!("sops key hc_vault {}: {msg}", key.uri());
        Err(msg)
    }

    /// Runs `fut` on the process's runtime and waits for it (the client's run deadline bounds
    /// the wait).
    fn run<T>(&self, fut: impl Future<Output = Result<T, String>>) -> Result<T, String> {
        crate::runtime::block_on(fut)?
    }
}

impl Transit for VaultTransit {
    fn encrypt(&self, key: &VaultKey, plaintext: &[u8]) -> Result<String, String> {
        let client = self.client_for(key)?.clone();
        let (mount, name, uri) = (key.engine_path.clone(), key.key_name.clone(), key.uri());
        let plaintext = Zeroizing::new(plaintext.to_vec());
        self.run(async move {
            check_transit_mount(&client, &mount, &uri).await?;
            client
                .transit_encrypt(&mount, &name, &plaintext)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn decrypt(&self, key: &VaultKey, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let client = self.client_for(key)?.clone();
        let (mount, name, uri) = (key.engine_path.clone(), key.key_name.clone(), key.uri());
        let ciphertext = ciphertext.to_owned();
        let plain = self.run(async move {
            check_transit_mount(&client, &mount, &uri).await?;
            client
                .transit_decrypt(&mount, &name, &ciphertext)
                .await
                .map_err(|e| e.to_string())
        })?;
        Ok(Zeroizing::new(plain.expose().to_vec()))
    }
}

/// The second half of the guard, on the trusted server itself: the file's `engine_path` must
/// be exactly a **transit** mount. Otherwise `PUT {engine_path}/decrypt/{key_name}` with our
/// token would be a write into whatever is mounted there (a KV v1 mount stores the body as a
/// secret at `decrypt/{key_name}`). The mount is looked up with the client's cached
/// `sys/internal/ui/mounts/` lookup; when the server does not answer it, nothing is sent.
async fn check_transit_mount(
    client: &VaultClient,
    engine_path: &str,
    uri: &str,
) -> Result<(), String> {
    let res = transit_mount_ok(client, engine_path).await;
    if let Err(msg) = &res {
        tracing::warn!("sops key hc_vault {uri}: {msg}");
    }
    res
}

async fn transit_mount_ok(client: &VaultClient, engine_path: &str) -> Result<(), String> {
    let wanted = format!("{}/", engine_path.trim_matches('/'));
    match client.mount_type(engine_path).await {
        Ok(Some((mount, kind))) if kind == "transit" && mount == wanted => Ok(()),
        Ok(Some((mount, kind))) if kind == "transit" => Err(format!(
            "refusing: the file's engine_path {engine_path:?} is not a transit mount itself but a path inside the transit mount {mount:?} on {}; engine_path must name the mount",
            client.address()
        )),
        Ok(Some((mount, kind))) => Err(format!(
            "refusing: the file's engine_path {engine_path:?} is a {kind:?} mount ({mount:?}) on {}, not a transit secrets engine; nothing was sent to it",
            client.address()
        )),
        Ok(None) => Err(format!(
            "refusing: cannot verify that the file's engine_path {engine_path:?} is a transit mount on {} (the server did not answer sys/internal/ui/mounts/{engine_path}: the token needs a capability on a path inside the mount); nothing was sent to it",
            client.address()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A transit mount path (`/`-separated when `nested`) or key name: non-empty segments of
/// ASCII letters, digits, `-`, `_` and `.`, none of them `.` or `..` (from the hardening
/// helper's guard: `..`, `%2e%2e`, `?`, `#` or an extra `/` would change the request path).
fn check_transit_path(field: &str, value: &str, nested: bool) -> Result<(), String> {
    let ok_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let ok = if nested {
        value.split('/').all(ok_segment)
    } else {
        ok_segment(value)
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the file's Vault transit key has an invalid {field} {value:?} (allowed: letters, \
             digits, `-`, `_`, `.`{}; no `.`/`..` segments); refusing to use it",
            if nested { ", `/` between segments" } else { "" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::vault::VaultConfig;

    fn key(addr: &str) -> VaultKey {
        VaultKey {
            vault_address: addr.to_owned(),
            engine_path: "transit".into(),
            key_name: "k".into(),
            created_at: String::new(),
            enc: "vault:v1:x".into(),
        }
    }

    #[test]
    fn the_guard_refuses_other_servers_before_any_request() {
        // Nothing listens on these: a request would fail differently (unreachable), after the
        // retries; the guard fails at once, naming the rule.
        let c =
            VaultClient::connect(&VaultConfig::with_token("http://127.0.0.1:8200/", "t")).unwrap();
        let t = VaultTransit::new(c);
        assert!(t.client_for(&key("http://127.0.0.1:8200")).is_ok());
        assert!(t.client_for(&key("HTTP://127.0.0.1:8200/")).is_ok());
        for other in [
            "https://127.0.0.1:8200",
            "http://127.0.0.1:9",
            "http://evil.example:8200",
            "http://127.0.0.1:8200/prefix",
            "not a url",
            "",
        ] {
            let e = t.client_for(&key(other)).unwrap_err();
            assert!(
                e.contains("skipped") && e.contains("not the configured") && e.contains("refusing"),
                "{e}"
            );
            let e = t.decrypt(&key(other), "vault:v1:x").unwrap_err();
            assert!(e.contains("skipped"), "{e}");
            let e = t.encrypt(&key(other), b"k").unwrap_err();
            assert!(e.contains("skipped"), "{e}");
        }
    }

    #[test]
    fn transit_paths_cannot_climb_out_of_the_mount() {
        let c =
            VaultClient::connect(&VaultConfig::with_token("http://127.0.0.1:8200", "t")).unwrap();
        let t = VaultTransit::new(c);
        let key = |engine: &str, name: &str| VaultKey {
            engine_path: engine.into(),
            key_name: name.into(),
            ..key("http://127.0.0.1:8200")
        };
        assert!(t.client_for(&key("transit", "app-key_1.v2")).is_ok());
        assert!(t.client_for(&key("team/transit", "k")).is_ok());
        for (engine, name) in [
            ("transit", "../../secret/data/x"),
            ("transit", "a/b"),
            ("transit", "%2e%2e"),
            ("transit", "k?x=1"),
            ("transit", "k#f"),
            ("transit", ""),
            ("..", "k"),
            ("transit/../sys", "k"),
            ("/transit", "k"),
            ("transit/", "k"),
            ("tran sit", "k"),
        ] {
            let e = t.decrypt(&key(engine, name), "vault:v1:x").unwrap_err();
            assert!(e.contains("refusing"), "{engine} {name}: {e}");
        }
    }

    #[test]
    fn unconfigured_transit_says_what_to_set() {
        let e = VaultTransit::unconfigured("no Vault address")
            .decrypt(&key("http://127.0.0.1:8200"), "vault:v1:x")
            .unwrap_err();
        assert!(
            e.contains("VAULT_ADDR") && e.contains("no Vault address"),
            "{e}"
        );
    }
}
