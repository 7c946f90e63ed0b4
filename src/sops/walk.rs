//! The depth-first walk over documents (spec §3, §5, §6): key paths as AAD, the encryption
//! decision per leaf, and the MAC.

use crate::secret::Sensitive;
use crate::sops::cipher::{self, Cipher, CipherError, EncType, IvStash};
use crate::sops::rules::Rule;
use crate::sops::tree::{Entry, Map, Value};
use sha2::{Digest, Sha512};

/// What to do with each leaf.
pub(crate) trait Visitor {
    /// A non-comment leaf (`v` is never a collection or null).
    fn value(&mut self, v: &mut Value, aad: &[u8], encrypted: bool) -> Result<(), WalkError>;
    /// A comment (map item or list element).
    fn comment(&mut self, c: &mut Sensitive, aad: &[u8], encrypted: bool) -> Result<(), WalkError>;
    /// sops writes an encrypted comment inside a sequence as a plain string element
    /// (`- ENC[…,type:comment]`); encryption must turn it into a string.
    fn list_comments_become_strings(&self) -> bool {
        false
    }
}

/// A failure at one leaf; `path` is the AAD form of its key path (never the value).
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A value could not be decrypted.
    #[error("Could not decrypt value at '{path}': {source}")]
    Decrypt {
        /// The key path, `a:b:`.
        path: String,
        /// Why.
        source: CipherError,
    },
    /// A value could not be encrypted.
    #[error("Could not encrypt value at '{path}': {source}")]
    Encrypt {
        /// The key path, `a:b:`.
        path: String,
        /// Why.
        source: CipherError,
    },
    /// A value that must be encrypted is not a string (sops 3.11 panics here).
    #[error(
        "the value at '{path}' should be encrypted but is a clear {ty}; the file was edited by hand or is not a sops file"
    )]
    NotEncrypted {
        /// The key path.
        path: String,
        /// The value's type name.
        ty: &'static str,
    },
    /// An encrypted comment matches `unencrypted_comment_regex`.
    #[error(
        "an encrypted comment at '{path}' matches unencrypted_comment_regex; make sure that the regex cannot match an encrypted comment (ENC[...])"
    )]
    CommentRegex {
        /// The key path.
        path: String,
    },
}

fn path_of(aad: &[u8]) -> String {
    String::from_utf8_lossy(aad).into_owned()
}

/// The walker state: the current key path and the rule bookkeeping.
pub(crate) struct Walker<'r> {
    rule: &'r Rule,
    path: Vec<u8>,
    /// Number of path components that match a path rule.
    matched: usize,
    /// Comment rules: per level, whether each active comment matches.
    comments: Vec<Vec<bool>>,
}

impl<'r> Walker<'r> {
    pub(crate) fn new(rule: &'r Rule) -> Self {
        Walker {
            rule,
            path: Vec::with_capacity(128),
            matched: 0,
            comments: Vec::new(),
        }
    }

    /// Walks every document in order.
    pub(crate) fn walk_docs(
        &mut self,
        docs: &mut [Map],
        v: &mut impl Visitor,
    ) -> Result<(), WalkError> {
        for d in docs {
            self.walk_map(d, v)?;
        }
        Ok(())
    }

    fn should_encrypt(&self, is_comment: bool) -> bool {
        match self.rule {
            Rule::None => true,
            Rule::UnencryptedSuffix(_) | Rule::UnencryptedRegex(_) => self.matched == 0,
            Rule::EncryptedSuffix(_) | Rule::EncryptedRegex(_) => self.matched > 0,
            Rule::UnencryptedCommentRegex(_) => !self.comments.iter().flatten().any(|m| *m),
            Rule::EncryptedCommentRegex(_) => {
                let last_level = self.comments.len().saturating_sub(1);
                self.comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, m)| {
                        let is_self = is_comment && i == last_level && j + 1 == level.len();
                        *m && !is_self
                    })
                })
            }
        }
    }

    fn see_comment(&mut self, c: &[u8]) {
        if self.rule.is_comment_rule() {
            let m = self.rule.comment_matches(c);
            if let Some(level) = self.comments.last_mut() {
                level.push(m);
            }
        }
    }

    fn clear_level(&mut self) {
        if let Some(level) = self.comments.last_mut() {
            level.clear();
        }
    }

    fn visit_comment(
        &mut self,
        c: &mut Sensitive,
        v: &mut impl Visitor,
    ) -> Result<bool, WalkError> {
        self.see_comment(c.expose());
        let enc = self.should_encrypt(true);
        let aad = if self.path.is_empty() {
            b":".as_slice()
        } else {
            &self.path
        };
        v.comment(c, aad, enc)?;
        Ok(enc)
    }

    fn walk_map(&mut self, map: &mut Map, v: &mut impl Visitor) -> Result<(), WalkError> {
        self.comments.push(Vec::new());
        for e in map.iter_mut() {
            match e {
                Entry::Comment(c) => {
                    self.visit_comment(c, v)?;
                }
                Entry::Pair(k, val) => {
                    let len = self.path.len();
                    self.path.extend_from_slice(k.as_bytes());
                    self.path.push(b':');
                    let m = self.rule.key_matches(k);
                    self.matched += usize::from(m);
                    let r = self.walk_value(val, v);
                    self.matched -= usize::from(m);
                    self.path.truncate(len);
                    r?;
                    self.clear_level();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn walk_list(&mut self, list: &mut [Value], v: &mut impl Visitor) -> Result<(), WalkError> {
        self.comments.push(Vec::new());
        for item in list.iter_mut() {
            if let Value::Comment(c) = item {
                let encrypted = self.visit_comment(c, v)?;
                if encrypted && !c.is_empty() && v.list_comments_become_strings() {
                    *item = Value::Str(std::mem::take(c));
                }
            } else {
                self.walk_value(item, v)?;
                self.clear_level();
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn walk_value(&mut self, val: &mut Value, v: &mut impl Visitor) -> Result<(), WalkError> {
        match val {
            Value::Map(m) => self.walk_map(m, v),
            Value::List(l) => self.walk_list(l, v),
            Value::Null => Ok(()),
            Value::Comment(c) => self.visit_comment(c, v).map(|_| ()),
            _ => {
                let enc = self.should_encrypt(false);
                let aad = if self.path.is_empty() {
                    b":".as_slice()
                } else {
                    &self.path
                };
                v.value(val, aad, enc)
            }
        }
    }
}

/// The MAC accumulator (spec §6).
pub(crate) struct Mac {
    hash: Sha512,
    only_encrypted: bool,
}

/// SHA-256("sops"): the MAC's starting bytes when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

impl Mac {
    pub(crate) fn new(only_encrypted: bool) -> Mac {
        let mut hash = Sha512::new();
        if only_encrypted {
            hash.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        Mac {
            hash,
            only_encrypted,
        }
    }

    fn add(&mut self, v: &Value, encrypted: bool) {
        if self.only_encrypted && !encrypted {
            return;
        }
        if matches!(v, Value::Comment(_)) {
            return;
        }
        cipher::plain_bytes(v, |_, b| self.hash.update(b));
    }

    /// The uppercase hex digest.
    pub(crate) fn finish(self) -> String {
        hex::encode_upper(self.hash.finalize())
    }
}

/// Decrypts every encrypted leaf in place and computes the MAC.
pub(crate) struct Decryptor<'c> {
    pub cipher: &'c Cipher,
    pub mac: Mac,
    /// Comments that could not be decrypted (kept verbatim, as sops does).
    pub undecryptable_comments: usize,
    /// The IVs of the decrypted values (sops' stash).
    pub stash: IvStash,
}

impl Visitor for Decryptor<'_> {
    fn value(&mut self, v: &mut Value, aad: &[u8], encrypted: bool) -> Result<(), WalkError> {
        if encrypted {
            let ct = match v {
                Value::Str(s) => s,
                other => {
                    return Err(WalkError::NotEncrypted {
                        path: path_of(aad),
                        ty: other.type_name(),
                    });
                }
            };
            if ct.is_empty() {
                return Ok(());
            }
            let err = |source| WalkError::Decrypt {
                path: path_of(aad),
                source,
            };
            let (ty, bytes, iv) = self.cipher.decrypt_raw_iv(ct.expose(), aad).map_err(err)?;
            if let Some(iv) = iv {
                self.stash.remember(aad, ty, bytes.expose(), iv);
            }
            *v = cipher::decode_typed(ty, bytes).map_err(err)?;
        }
        self.mac.add(v, encrypted);
        Ok(())
    }

    fn comment(&mut self, c: &mut Sensitive, aad: &[u8], encrypted: bool) -> Result<(), WalkError> {
        if encrypted && !c.is_empty() {
            match self.cipher.decrypt_raw_iv(c.expose(), aad) {
                Ok((ty @ (EncType::Comment | EncType::Str), plain, iv)) => {
                    if let Some(iv) = iv {
                        self.stash.remember(aad, ty, plain.expose(), iv);
                    }
                    *c = plain;
                }
                Ok(_) | Err(_) => self.undecryptable_comments += 1,
            }
        }
        Ok(())
    }
}

/// Encrypts every leaf that the rule selects, in place, and computes the MAC over plaintexts.
pub(crate) struct Encryptor<'c> {
    pub cipher: &'c Cipher,
    pub mac: Mac,
    pub rule: &'c Rule,
    /// IVs to reuse for values that did not change (`None`: every IV is fresh).
    pub stash: Option<&'c IvStash>,
}

impl Encryptor<'_> {
    fn encrypt(&self, plain: &[u8], ty: EncType, aad: &[u8]) -> Result<String, WalkError> {
        self.cipher
            .encrypt(plain, ty, aad, self.stash)
            .map_err(|source| WalkError::Encrypt {
                path: path_of(aad),
                source,
            })
    }
}

impl Visitor for Encryptor<'_> {
    fn value(&mut self, v: &mut Value, aad: &[u8], encrypted: bool) -> Result<(), WalkError> {
        self.mac.add(v, encrypted);
        if encrypted {
            if matches!(v, Value::Str(s) if s.is_empty()) {
                return Ok(());
            }
            if let Some(enc) = cipher::plain_bytes(v, |ty, b| self.encrypt(b, ty, aad)) {
                *v = Value::Str(Sensitive::from(enc?));
            }
        }
        Ok(())
    }

    fn comment(&mut self, c: &mut Sensitive, aad: &[u8], encrypted: bool) -> Result<(), WalkError> {
        if encrypted && !c.is_empty() {
            let enc = self.encrypt(c.expose(), EncType::Comment, aad)?;
            if matches!(self.rule, Rule::UnencryptedCommentRegex(_))
                && self.rule.comment_matches(enc.as_bytes())
            {
                return Err(WalkError::CommentRegex { path: path_of(aad) });
            }
            *c = Sensitive::from(enc);
        }
        Ok(())
    }

    fn list_comments_become_strings(&self) -> bool {
        true
    }
}
