//! The logic of sealbridge's fuzz targets, shared by the libFuzzer binaries in `fuzz_targets/`
//! (`cargo +nightly fuzz run NAME`) and by this crate's own tests, which run every target over
//! the seed corpus (the project's fixtures) plus deterministic mutations of it on stable Rust:
//! `cargo test --manifest-path fuzz/Cargo.toml`.
//!
//! Every target states what must hold for *any* input: no panic, and the property named in its
//! documentation. A violated property panics, which libFuzzer records as a crash.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use sealbridge::krm::function::process;
use sealbridge::krm::{KrmError, Plaintext, SopsSource};
use sealbridge::placeholder::{self, Flow, ScanContext, Segment};
use sealbridge::secret::{SecretValue, Sensitive};
use sealbridge::sops::cipher::{Cipher, DataKey, EncType};
use sealbridge::sops::keys::Transit;
use sealbridge::sops::keys::age_key::AgeIdentities;
use sealbridge::sops::{DecryptOptions, Format, KeySources, VaultKey};
use sealbridge::yaml;

/// The age identity the sops fixtures are encrypted to (a test key, not a secret).
pub const FIXTURE_AGE_KEY: &str = include_str!("../../tests/fixtures/sops/keys/age1.txt");

/// Placeholder tokenizer: any text scans without panicking; without errors the segments give the
/// text back exactly; every reference's modifier chain applied to the text as a secret value
/// never panics (base64decode, jsonParse, yamlParse, jsonPath, indent on arbitrary input).
pub fn placeholder(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for generic in [false, true] {
        scan(text, generic);
    }
    let _ = placeholder::jsonpath::JsonPath::parse(text);
}

fn scan(text: &str, generic: bool) {
    let parsed = placeholder::parse(text, ScanContext { generic });
    if parsed.errors.is_empty() {
        let mut back = String::new();
        for s in &parsed.segments {
            match s {
                Segment::Text(t) => back.push_str(t),
                Segment::Ref(r) => back.push_str(&r.raw),
            }
        }
        assert_eq!(back, text, "segments do not give the text back");
    }
    for r in parsed.references() {
        let value = SecretValue::String(Sensitive::from_str_copy(text));
        // The render engine's per-value bound at a 16 MiB output: no chain allocates more.
        let _ = placeholder::apply_modifiers(Flow::Value(value), &r.modifiers, 1 << 20);
    }
}

/// YAML parser and manifest emitter: any text parses or fails with an error; what
/// `emit_manifest` writes parses again into the same data (documents, keys, values and their
/// types, compared as JSON; comments and styles may differ). The sops emitter (`emit_sops`)
/// never panics either.
pub fn yaml_roundtrip(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(docs) = yaml::parse_stream(text) else {
        return;
    };
    let first = yaml::emit_manifest(&docs);
    let _ = yaml::emit_sops(&docs);
    let again = match yaml::parse_stream(&first) {
        Ok(d) => d,
        Err(e) => panic!(
            "emit_manifest wrote YAML it cannot read back ({e}):\n{}",
            &*first
        ),
    };
    // The render path's safety net agrees (types, tags, anchors; aliases unexpanded).
    if let Err(e) = yaml::check_emitted(&docs, &first) {
        panic!("{e}; it wrote:\n{}", &*first);
    }
    let (Some(before), Some(after)) = (as_json(docs), as_json(again)) else {
        return;
    };
    assert_eq!(
        before, after,
        "emit_manifest changed the data; it wrote:\n{}",
        &*first
    );
}

/// The documents as JSON (aliases expanded), or `None` when they cannot be expressed as JSON.
fn as_json(mut docs: Vec<yaml::Document>) -> Option<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for d in &mut docs {
        d.expand_aliases(10_000).ok()?;
        // An empty (null) document is not written out: compare without them.
        if !d.root.is_null() {
            out.push(yaml::to_json(&d.root).ok()?);
        }
        let _ = yaml::to_secret_value(&d.root);
    }
    Some(out)
}

/// A transit key source that never talks to a network (fuzz inputs name arbitrary addresses).
struct NoTransit;

impl Transit for NoTransit {
    fn encrypt(&self, _key: &VaultKey, _plaintext: &[u8]) -> Result<String, String> {
        Err("no transit while fuzzing".to_owned())
    }
    fn decrypt(
        &self,
        _key: &VaultKey,
        _ciphertext: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        Err("no transit while fuzzing".to_owned())
    }
}

fn fixed_keys() -> &'static DecryptOptions {
    static OPTS: OnceLock<DecryptOptions> = OnceLock::new();
    OPTS.get_or_init(|| DecryptOptions {
        keys: KeySources::from_env()
            .with_age(AgeIdentities::from_text(FIXTURE_AGE_KEY, "fuzz"))
            .with_transit(Arc::new(NoTransit)),
        ..DecryptOptions::default()
    })
}

const FORMATS: [Format; 5] = [
    Format::Yaml,
    Format::Json,
    Format::Dotenv,
    Format::Ini,
    Format::Binary,
];

/// sops file loader and decryption with a fixed age key: any bytes, read as every store, load
/// or fail with an error, decrypt or fail with an error, and a decrypted file emits into every
/// store (or fails with an error) — never a panic.
pub fn sops_decrypt(data: &[u8]) {
    for format in FORMATS {
        sops_decrypt_as(data, format);
    }
}

fn sops_decrypt_as(file: &[u8], format: Format) {
    let _ = sealbridge::sops::load_encrypted(file, format);
    let Ok(decrypted) = sealbridge::sops::decrypt_bytes(file, format, fixed_keys()) else {
        return;
    };
    let _ = decrypted.to_secret_value();
    for f in FORMATS {
        let _ = decrypted.emit(f);
    }
    if let Ok(path) = sealbridge::sops::parse_extract_path("[\"a\"][0]") {
        let _ = decrypted.extract(&path);
    }
}

/// The `ENC[AES256_GCM,…]` value codec: decrypting arbitrary text with a fixed key and AAD
/// never panics; encrypting arbitrary bytes decrypts back to the same bytes and type.
pub fn sops_value(data: &[u8]) {
    let Some(key) = DataKey::from_slice(&[7u8; 32]) else {
        panic!("a 32-byte data key is refused");
    };
    let cipher = Cipher::new(&key);
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let (aad, value) = rest.split_at(at);
    let _ = cipher.decrypt(value, aad);
    let _ = sealbridge::sops::cipher::is_enc(value);
    if let Ok(s) = std::str::from_utf8(value) {
        let _ = sealbridge::yaml::gofmt::parse_go_atoi(s);
        let _ = sealbridge::yaml::gofmt::parse_go_float(s);
        let _ = sealbridge::yaml::gofmt::parse_go_bool(s);
    }
    if value.is_empty() {
        // sops never encrypts an empty string (spec §4.5); the codec refuses `data:` empty.
        return;
    }
    let enc = match cipher.encrypt(value, EncType::Bytes, aad, None) {
        Ok(enc) => enc,
        Err(e) => panic!("encrypting a short value failed: {e}"),
    };
    match cipher.decrypt_raw(enc.as_bytes(), aad) {
        Ok((ty, back)) => {
            assert_eq!(ty, EncType::Bytes);
            assert!(back.expose() == value, "round trip changed the bytes");
        }
        Err(e) => panic!("a value we encrypted does not decrypt: {e}"),
    }
}

/// A sops source for the KRM target that decrypts nothing (and touches no file).
struct NoSops;

impl SopsSource for NoSops {
    fn decrypt(&self, _path: &Path) -> Result<Plaintext, KrmError> {
        Err(KrmError::Decrypt("no sops while fuzzing".to_owned()))
    }
}

/// KRM ResourceList reader/writer: any text is processed into an outcome (output or error
/// results) without panicking; the transformer sees the items.
pub fn krm_resource_list(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cwd = std::env::temp_dir().join("sealbridge-fuzz-empty-dir");
    let _ = process(text, &cwd, &NoSops, &|_docs, _cwd| Ok(()));
}

#[cfg(test)]
mod tests;
