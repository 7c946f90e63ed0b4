//! sops-compatible encrypted files: read every file Go sops 3.x writes, write files Go sops
//! reads (spec: `docs/sops.md`, the format in `sops-format.md`).
//!
//! The pipeline: a store parses the file into documents plus metadata, the data key is
//! recovered from a key group (age, Vault transit, Shamir), the walk decrypts every leaf the
//! encryption rule selects and computes the MAC, and a store prints the result.
//!
//! Entry points: [`decrypt_file`] / [`decrypt_bytes`] give a [`Decrypted`] tree that converts to
//! [`crate::secret::SecretValue`] or prints exactly like `sops decrypt`; [`encrypt_docs`] writes
//! a new sops file; [`Decrypted::reencrypt`] supports `rotate`; [`update_keys`] `updatekeys`.

pub mod cipher;
pub mod config;
pub mod edit;
pub mod keys;
pub mod metadata;
pub mod rules;
pub mod shamir;
pub mod stores;
pub mod tree;
mod walk;

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::secret::SecretValue;
use crate::yaml::gofmt::Timestamp;
use cipher::{Cipher, DataKey, EncType};
pub use keys::KeySources;
pub use metadata::{KeyGroup, MasterKey, Metadata, VaultKey};
pub use rules::Rule;
pub use stores::{EmitOptions, Format};
pub use tree::{Entry, Map, Value};
pub use walk::WalkError;

/// The sops version sealbridge writes into new files.
pub const SOPS_VERSION: &str = "3.11.0";

/// What went wrong, broadly (decides the exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read or written.
    Io,
    /// The file has no sops metadata.
    MetadataNotFound,
    /// The file does not parse in its format.
    Parse,
    /// The metadata is invalid.
    Metadata,
    /// No key could recover the data key.
    DataKey,
    /// A value could not be decrypted (tampered, wrong AAD, malformed).
    Decrypt,
    /// MAC mismatch, or the MAC could not be decrypted.
    Mac,
    /// The output format cannot represent the tree.
    Emit,
    /// `--extract` path not found.
    Extract,
    /// Encryption failed (keys could not be wrapped, already encrypted, …).
    Encrypt,
    /// A usage or configuration error (bad flags, `.sops.yaml`).
    Usage,
    /// The plaintext to encrypt already has sops metadata.
    AlreadyEncrypted,
    /// The plaintext to encrypt has no document.
    Empty,
}

/// A sops failure. The message names the file, field paths and keys, never a value.
#[derive(Debug)]
pub struct Error {
    /// The broad kind.
    pub kind: ErrorKind,
    /// The file concerned, if any.
    pub file: Option<PathBuf>,
    /// What happened and what to do.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "{}: {}", p.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            file: None,
            message: message.into(),
        }
    }

    /// Attaches the file name (if none yet).
    pub fn in_file(mut self, p: &Path) -> Error {
        if self.file.is_none() {
            self.file = Some(p.to_path_buf());
        }
        self
    }

    /// True for usage/configuration errors (exit code 2).
    pub fn is_usage(&self) -> bool {
        self.kind == ErrorKind::Usage
    }
}

fn err(kind: ErrorKind, m: impl Into<String>) -> Error {
    Error::new(kind, m)
}

/// Options for decryption.
#[derive(Clone, Debug, Default)]
pub struct DecryptOptions {
    /// The input format; `None` = from the file name.
    pub format: Option<Format>,
    /// Skip MAC verification (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Key material; defaults to the environment (`SOPS_AGE_KEY_FILE`, …, `VAULT_TOKEN`).
    pub keys: KeySources,
}

/// A decrypted sops file.
pub struct Decrypted {
    /// The plaintext documents (only YAML has more than one).
    pub docs: Vec<Map>,
    /// The file's metadata.
    pub metadata: Metadata,
    /// The store the file was read with.
    pub format: Format,
    /// Comments that could not be decrypted and were kept as they are.
    pub undecryptable_comments: usize,
    data_key: DataKey,
    /// The IVs the values were decrypted with (reused for unchanged values, as sops does).
    stash: cipher::IvStash,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("format", &self.format)
            .field("documents", &self.docs.len())
            .finish_non_exhaustive()
    }
}

/// One component of an `--extract` path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathComponent {
    /// `["key"]`
    Key(String),
    /// `[3]`
    Index(usize),
}

impl fmt::Display for PathComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathComponent::Key(k) => write!(f, "['{k}']"),
            PathComponent::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Parses sops' `--extract` syntax: `["a"]['b'][0]`. Empty = no path.
pub fn parse_extract_path(s: &str) -> Result<Vec<PathComponent>, Error> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    if !s.starts_with('[') {
        return Err(err(
            ErrorKind::Usage,
            format!("invalid --extract path {s:?}: it must start with '['"),
        ));
    }
    for part in s.split('[').skip(1) {
        let inner = part.strip_suffix(']').ok_or_else(|| {
            err(
                ErrorKind::Usage,
                format!("invalid --extract path {s:?}: a component does not end with ']'"),
            )
        })?;
        if let Ok(i) = inner.parse::<usize>() {
            out.push(PathComponent::Index(i));
        } else if inner.len() >= 2 {
            out.push(PathComponent::Key(inner[1..inner.len() - 1].to_string()));
        } else {
            return Err(err(
                ErrorKind::Usage,
                format!("invalid --extract path {s:?}: empty component"),
            ));
        }
    }
    Ok(out)
}

impl Decrypted {
    /// The first document as the engine's typed value (binary files: the content string).
    pub fn to_secret_value(&self) -> SecretValue {
        let first = self.docs.first().map(Vec::as_slice).unwrap_or(&[]);
        if self.format == Format::Binary
            && let Some(v) = tree::map_get(first, "data")
        {
            return v.to_secret_value();
        }
        SecretValue::Map(tree::map_to_secret(first))
    }

    /// The decrypted file printed exactly like `sops decrypt --output-type format`.
    pub fn emit(&self, format: Format) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.emit_with(format, &EmitOptions::default())
    }

    /// [`Decrypted::emit`] with layout options.
    pub fn emit_with(
        &self,
        format: Format,
        opts: &EmitOptions,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        stores::emit_plain(format, &self.docs, opts)
            .map_err(|m| err(ErrorKind::Emit, format!("Error dumping file: {m}")))
    }

    /// Looks up an `--extract` path in the first document.
    pub fn extract(&self, path: &[PathComponent]) -> Result<&Value, Error> {
        let first = self
            .docs
            .first()
            .ok_or_else(|| err(ErrorKind::Extract, "the file has no document"))?;
        let mut cur: Option<&Value> = None;
        let mut cur_map: Option<&Map> = Some(first);
        for c in path {
            match c {
                PathComponent::Key(k) => {
                    let m = cur_map.ok_or_else(|| {
                        err(
                            ErrorKind::Extract,
                            format!("error truncating tree: component {c} not found"),
                        )
                    })?;
                    let v = tree::map_get(m, k).ok_or_else(|| {
                        err(
                            ErrorKind::Extract,
                            format!("error truncating tree: component {c} not found"),
                        )
                    })?;
                    cur = Some(v);
                }
                PathComponent::Index(i) => {
                    let Some(Value::List(l)) = cur else {
                        return Err(err(
                            ErrorKind::Extract,
                            format!(
                                "error truncating tree: component {c} is integer, but tree part is not a slice"
                            ),
                        ));
                    };
                    cur = Some(l.get(*i).ok_or_else(|| {
                        err(
                            ErrorKind::Extract,
                            format!("error truncating tree: component {c} accesses out of bounds"),
                        )
                    })?);
                }
            }
            cur_map = match cur {
                Some(Value::Map(m)) => Some(m),
                _ => None,
            };
        }
        cur.ok_or_else(|| err(ErrorKind::Extract, "empty --extract path"))
    }

    /// `sops decrypt --extract`: the value printed as sops prints it (spec §11.2).
    pub fn emit_extract(
        &self,
        path: &[PathComponent],
        format: Format,
        opts: &EmitOptions,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if path.is_empty() {
            return self.emit_with(format, opts);
        }
        if format == Format::Binary {
            return Err(err(
                ErrorKind::Emit,
                "Binary files are not structured and extracting a single value is not possible",
            ));
        }
        let v = self.extract(path)?;
        match v {
            Value::Map(m) => {
                // A mapping is printed as a whole file; for YAML the other documents follow (a
                // sops quirk).
                let mut docs = vec![m.clone()];
                if format == Format::Yaml {
                    docs.extend(self.docs.iter().skip(1).cloned());
                }
                stores::emit_plain(format, &docs, opts)
                    .map_err(|m| err(ErrorKind::Emit, format!("Error dumping file: {m}")))
            }
            other => stores::emit_value(format, other, opts)
                .map_err(|m| err(ErrorKind::Emit, format!("Error dumping file: {m}"))),
        }
    }

    /// Re-encrypts the tree with a NEW data key for the same master keys (`rotate`), with a new
    /// `lastmodified` and MAC. Master keys sealbridge cannot wrap for make this fail.
    pub fn rotate(&self, keys: &KeySources, opts: &EmitOptions) -> Result<Vec<u8>, Error> {
        let mut md = self.metadata.clone();
        let key = DataKey::generate();
        keys.wrap_all(&mut md, &key)
            .map_err(|m| err(ErrorKind::Encrypt, m))?;
        encrypt_with_key(self.docs.clone(), self.format, md, &key, opts, None)
    }

    /// Re-encrypts the tree with the SAME data key (used after editing values), a new
    /// `lastmodified` and MAC. As in sops, a value that is unchanged at the same key path keeps
    /// its IV and so its ciphertext; changed and new values get fresh IVs.
    pub fn reencrypt(&self, opts: &EmitOptions) -> Result<Vec<u8>, Error> {
        encrypt_with_key(
            self.docs.clone(),
            self.format,
            self.metadata.clone(),
            &self.data_key,
            opts,
            Some(&self.stash),
        )
    }
}

/// Reads and decrypts a sops file.
pub fn decrypt_file(path: &Path, opts: &DecryptOptions) -> Result<Decrypted, Error> {
    let input = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| err(ErrorKind::Io, format!("cannot read the file: {e}")).in_file(path))?,
    );
    let format = opts.format.unwrap_or_else(|| Format::from_path(path));
    decrypt_bytes(&input, format, opts).map_err(|e| e.in_file(path))
}

/// Whether `text` looks like a sops-encrypted YAML/JSON file — a top-level `sops` key and an
/// `ENC[…]` value: the cheap test before [`load_encrypted`], whose metadata check decides.
pub fn looks_encrypted(text: &str) -> bool {
    (text.starts_with("sops:") || text.contains("\nsops:") || text.contains("\"sops\":"))
        && text.contains("ENC[")
}

/// Parses an encrypted file's metadata and encrypted tree, without decrypting anything.
pub fn load_encrypted(input: &[u8], format: Format) -> Result<(Vec<Map>, Metadata), Error> {
    let loaded = stores::load_encrypted(format, input).map_err(|m| err(ErrorKind::Parse, m))?;
    let mdv = loaded
        .metadata
        .ok_or_else(|| err(ErrorKind::MetadataNotFound, "sops metadata not found; is this a sops-encrypted file? (for another format, use --input-type)"))?;
    let md = Metadata::from_value(&mdv).map_err(|m| err(ErrorKind::Metadata, m))?;
    md.validate().map_err(|m| err(ErrorKind::Metadata, m))?;
    Ok((loaded.docs, md))
}

/// Decrypts an encrypted file's bytes.
pub fn decrypt_bytes(
    input: &[u8],
    format: Format,
    opts: &DecryptOptions,
) -> Result<Decrypted, Error> {
    let (mut docs, md) = load_encrypted(input, format)?;
    let data_key = opts
        .keys
        .recover(&md)
        .map_err(|m| err(ErrorKind::DataKey, m))?;
    let cipher = Cipher::new(&data_key);
    let rule = md.effective_rule();
    let mut visitor = walk::Decryptor {
        cipher: &cipher,
        mac: walk::Mac::new(md.mac_only_encrypted),
        undecryptable_comments: 0,
        stash: cipher::IvStash::default(),
    };
    walk::Walker::new(&rule)
        .walk_docs(&mut docs, &mut visitor)
        .map_err(|e| {
            err(
                ErrorKind::Decrypt,
                format!("Error decrypting tree: Error walking tree: {e}"),
            )
        })?;
    let computed = visitor.mac.finish();
    if !opts.ignore_mac {
        verify_mac(&cipher, &md, &computed)?;
    }
    if visitor.undecryptable_comments > 0 {
        tracing::warn!(
            "Found {} possibly unencrypted comment(s) in file. This is to be expected if the file being decrypted was created with an older version of SOPS.",
            visitor.undecryptable_comments
        );
    }
    Ok(Decrypted {
        docs,
        metadata: md,
        format,
        undecryptable_comments: visitor.undecryptable_comments,
        data_key,
        stash: visitor.stash,
    })
}

fn verify_mac(cipher: &Cipher, md: &Metadata, computed: &str) -> Result<(), Error> {
    let mismatch = || {
        err(
            ErrorKind::Mac,
            "MAC mismatch: the file's contents do not match its MAC, so it was changed after it was encrypted (values edited, reordered or removed). Restore the file, or decrypt with --ignore-mac if you trust it.",
        )
    };
    if md.mac.is_empty() {
        return Err(mismatch());
    }
    let aad = md
        .last_modified_aad()
        .map_err(|m| err(ErrorKind::Metadata, m))?;
    let stored = cipher
        .decrypt_raw(md.mac.as_bytes(), aad.as_bytes())
        .map_err(|e| {
            err(
                ErrorKind::Mac,
                format!(
                    "Cannot decrypt MAC: {e}; the sops metadata (lastmodified or mac) was changed"
                ),
            )
        })?;
    // Constant-time compare is not needed (both sides are known to the caller), but cheap.
    let (EncType::Str, stored) = stored else {
        return Err(mismatch());
    };
    if stored.expose() == computed.as_bytes() {
        Ok(())
    } else {
        Err(mismatch())
    }
}

/// How to encrypt a new file.
#[derive(Clone, Debug, Default)]
pub struct EncryptOptions {
    /// The master keys, grouped.
    pub groups: Vec<KeyGroup>,
    /// Shamir threshold (0 = number of groups).
    pub shamir_threshold: usize,
    /// The encryption rule (`None` = `unencrypted_suffix: _unencrypted`).
    pub rule: Option<Rule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// Output layout.
    pub emit: EmitOptions,
    /// Key material for wrapping (Vault token etc.).
    pub keys: KeySources,
}

/// Encrypts documents into a sops file of `format`.
pub fn encrypt_docs(
    docs: Vec<Map>,
    format: Format,
    opts: &EncryptOptions,
) -> Result<Vec<u8>, Error> {
    if docs.is_empty() {
        return Err(err(
            ErrorKind::Empty,
            "File cannot be completely empty, it must contain at least one document",
        ));
    }
    if stores::has_sops_key(format, &docs) {
        return Err(err(ErrorKind::AlreadyEncrypted, "File already encrypted"));
    }
    let (md, key) = new_metadata(format, opts)?;
    encrypt_with_key(docs, format, md, &key, &opts.emit, None)
}

/// The metadata of a new file (keys, rule, version) and its new data key, wrapped for every
/// master key.
fn new_metadata(format: Format, opts: &EncryptOptions) -> Result<(Metadata, DataKey), Error> {
    if opts.groups.iter().all(|g| g.keys.is_empty()) {
        return Err(err(
            ErrorKind::Usage,
            "no master keys: give --age or --hc-vault-transit, or a .sops.yaml creation rule with keys",
        ));
    }
    let rule = if format == Format::Binary {
        None
    } else {
        Some(opts.rule.clone().unwrap_or_else(Rule::default_for_reading))
    };
    let mut md = Metadata {
        groups: opts.groups.clone(),
        shamir_threshold: if opts.groups.len() >= 2 {
            opts.shamir_threshold
        } else {
            0
        },
        rule,
        mac_only_encrypted: opts.mac_only_encrypted,
        version: SOPS_VERSION.to_string(),
        ..Metadata::default()
    };
    let key = DataKey::generate();
    opts.keys
        .wrap_all(&mut md, &key)
        .map_err(|m| err(ErrorKind::Encrypt, m))?;
    Ok((md, key))
}

/// A new, empty file of `format` to be edited (`sops edit` of a file that does not exist): a
/// data key is generated and wrapped for every master key now, so a key that cannot be used
/// fails before the editor opens. Fill `docs`, then [`Decrypted::reencrypt`].
pub fn new_file(format: Format, opts: &EncryptOptions) -> Result<Decrypted, Error> {
    let (metadata, data_key) = new_metadata(format, opts)?;
    Ok(Decrypted {
        docs: Vec::new(),
        metadata,
        format,
        undecryptable_comments: 0,
        data_key,
        stash: cipher::IvStash::default(),
    })
}

/// Walks, encrypts, writes the MAC and `lastmodified`, and emits.
fn encrypt_with_key(
    mut docs: Vec<Map>,
    format: Format,
    mut md: Metadata,
    key: &DataKey,
    emit: &EmitOptions,
    stash: Option<&cipher::IvStash>,
) -> Result<Vec<u8>, Error> {
    let cipher = Cipher::new(key);
    let rule = md.effective_rule();
    let mut visitor = walk::Encryptor {
        cipher: &cipher,
        mac: walk::Mac::new(md.mac_only_encrypted),
        rule: &rule,
        stash,
    };
    walk::Walker::new(&rule)
        .walk_docs(&mut docs, &mut visitor)
        .map_err(|e| err(ErrorKind::Encrypt, format!("Error encrypting tree: {e}")))?;
    let mac = visitor.mac.finish();
    md.last_modified = Timestamp::now_utc().rfc3339();
    md.mac = cipher
        .encrypt(
            mac.as_bytes(),
            EncType::Str,
            md.last_modified.as_bytes(),
            None,
        )
        .map_err(|e| err(ErrorKind::Encrypt, format!("Error encrypting the MAC: {e}")))?;
    stores::emit_encrypted(format, &docs, &md, emit).map_err(|m| err(ErrorKind::Emit, m))
}

/// `updatekeys`: re-wraps the data key of an encrypted file for `groups` (values, MAC and
/// `lastmodified` unchanged). Returns `None` when the keys already match.
pub fn update_keys(
    input: &[u8],
    format: Format,
    groups: Vec<KeyGroup>,
    shamir_threshold: usize,
    keys: &KeySources,
    emit: &EmitOptions,
) -> Result<Option<Vec<u8>>, Error> {
    let (docs, md) = load_encrypted(input, format)?;
    let ident = |gs: &[KeyGroup]| -> Vec<Vec<String>> {
        gs.iter()
            .map(|g| {
                let mut v: Vec<String> = g.keys.iter().map(MasterKey::describe).collect();
                v.sort();
                v
            })
            .collect()
    };
    let new_threshold = if groups.len() >= 2 {
        shamir_threshold
    } else {
        0
    };
    if ident(&md.groups) == ident(&groups) && md.shamir_threshold == new_threshold {
        return Ok(None);
    }
    let key = keys.recover(&md).map_err(|m| err(ErrorKind::DataKey, m))?;
    let mut new_md = md.clone();
    new_md.groups = groups;
    new_md.shamir_threshold = new_threshold;
    keys.wrap_all(&mut new_md, &key)
        .map_err(|m| err(ErrorKind::Encrypt, m))?;
    let out = stores::emit_encrypted(format, &docs, &new_md, emit)
        .map_err(|m| err(ErrorKind::Emit, m))?;
    Ok(Some(out))
}
