//! sops' exit codes (`cmd/sops/codes/codes.go`) for the sops verbs, on the same failures as the
//! Go sops 3.11. Every other command keeps sealbridge's 0/1/2 (`docs/cli.md`).

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::sops::ErrorKind;

/// Failure not covered below (sops' `ErrorGeneric`).
pub(super) const GENERIC: u8 = 1;
/// The input file could not be read or parsed (`CouldNotReadInputFile`).
pub(super) const COULD_NOT_READ_INPUT: u8 = 2;
/// The output could not be written (`CouldNotWriteOutputFile`).
pub(super) const COULD_NOT_WRITE_OUTPUT: u8 = 3;
/// The tree could not be printed (`ErrorDumpingTree`).
pub(super) const ERROR_DUMPING_TREE: u8 = 4;
/// `set`: bad index or value (`ErrorInvalidSetFormat`).
pub(super) const INVALID_SET_FORMAT: u8 = 7;
/// A value could not be decrypted (`ErrorDecryptingTree`).
pub(super) const ERROR_DECRYPTING_TREE: u8 = 25;
/// MAC mismatch, or the MAC could not be decrypted (`MacMismatch`).
pub(super) const MAC_MISMATCH: u8 = 51;
/// Bad `--extract` path (`InvalidTreePathFormat`).
pub(super) const INVALID_TREE_PATH: u8 = 91;
/// Nothing to encrypt (`NeedAtLeastOneDocument`).
pub(super) const NEED_AT_LEAST_ONE_DOCUMENT: u8 = 92;
/// The file does not exist (`NoFileSpecified`: "cannot operate on non-existent file").
pub(super) const NO_FILE: u8 = 100;
/// No key could recover (or wrap) the data key (`CouldNotRetrieveKey`).
pub(super) const COULD_NOT_RETRIEVE_KEY: u8 = 128;
/// The plaintext already has sops metadata (`FileAlreadyEncrypted`).
pub(super) const FILE_ALREADY_ENCRYPTED: u8 = 203;

/// The sops verb that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verb {
    /// `decrypt` (`-d`)
    Decrypt,
    /// `encrypt` (`-e`)
    Encrypt,
    /// `edit`
    Edit,
    /// `exec-env`, `exec-file`
    Exec,
    /// `set`
    Set,
    /// `unset`
    Unset,
    /// `rotate` (`-r`)
    Rotate,
    /// `updatekeys`
    UpdateKeys,
    /// `filestatus`
    FileStatus,
}

/// The exit code sops uses for `e` in `verb`; `input` is the file the verb reads (so an I/O
/// error on it is a read error, on any other path a write error).
pub(super) fn exit_code(verb: Verb, input: Option<&Path>, e: &Error) -> u8 {
    match e {
        Error::Io { path, source } => {
            let is_input = input.is_none_or(|i| i == path) || path == Path::new("<stdin>");
            if !is_input {
                COULD_NOT_WRITE_OUTPUT
            } else if matches!(verb, Verb::FileStatus | Verb::UpdateKeys) {
                GENERIC
            } else if source.kind() == std::io::ErrorKind::NotFound
                && matches!(verb, Verb::Decrypt | Verb::Encrypt)
            {
                NO_FILE
            } else {
                COULD_NOT_READ_INPUT
            }
        }
        Error::Sops(s) => match (s.kind, verb) {
            (ErrorKind::DataKey, _) => COULD_NOT_RETRIEVE_KEY,
            (_, Verb::UpdateKeys | Verb::FileStatus) => GENERIC,
            (ErrorKind::Decrypt, _) => ERROR_DECRYPTING_TREE,
            (ErrorKind::Mac, _) => MAC_MISMATCH,
            (ErrorKind::Emit, _) => ERROR_DUMPING_TREE,
            (ErrorKind::Encrypt, _) => COULD_NOT_RETRIEVE_KEY,
            (ErrorKind::AlreadyEncrypted, _) => FILE_ALREADY_ENCRYPTED,
            (ErrorKind::Empty, _) => NEED_AT_LEAST_ONE_DOCUMENT,
            (ErrorKind::Parse, Verb::Encrypt) => COULD_NOT_READ_INPUT,
            (ErrorKind::Io, _) => COULD_NOT_READ_INPUT,
            (ErrorKind::Usage, Verb::Decrypt) if s.message.contains("--extract") => {
                INVALID_TREE_PATH
            }
            (ErrorKind::Usage, Verb::Set) => INVALID_SET_FORMAT,
            (ErrorKind::Usage, _) => crate::error::ExitStatus::Usage as u8,
            (
                ErrorKind::Parse
                | ErrorKind::MetadataNotFound
                | ErrorKind::Metadata
                | ErrorKind::Extract,
                _,
            ) => GENERIC,
        },
        // Command-line and configuration problems keep sealbridge's 2.
        other => other.exit_status() as u8,
    }
}

/// The verb of a sops command and the file it reads (`None` for standard input).
pub(super) fn verb_of(c: &super::Command) -> Option<(Verb, Option<PathBuf>)> {
    use super::Command as C;
    let file = |f: &Option<PathBuf>| f.clone().filter(|p| p != Path::new("-"));
    Some(match c {
        C::Decrypt(a) => (Verb::Decrypt, file(&a.file)),
        C::Encrypt(a) => (Verb::Encrypt, file(&a.file)),
        C::Edit(a) => (Verb::Edit, Some(a.file.clone())),
        C::ExecEnv(a) => (Verb::Exec, Some(a.file.clone())),
        C::ExecFile(a) => (Verb::Exec, Some(a.file.clone())),
        C::Set(a) => (Verb::Set, Some(a.file.clone())),
        C::Unset(a) => (Verb::Unset, Some(a.file.clone())),
        C::Rotate(a) => (Verb::Rotate, Some(a.file.clone())),
        C::Groups(a) => (Verb::Rotate, Some(a.step.file().to_path_buf())),
        // Several files: an I/O error is never a write error of ours to tell apart.
        C::Updatekeys(_) => (Verb::UpdateKeys, None),
        C::Filestatus(a) => (Verb::FileStatus, Some(a.file.clone())),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sops(kind: ErrorKind, m: &str) -> Error {
        Error::Sops(crate::sops::Error::new(kind, m))
    }

    #[test]
    fn codes_follow_sops() {
        let f = Path::new("f.yaml");
        let io = |p: &str, k| Error::io(p, std::io::Error::from(k));
        use std::io::ErrorKind as K;
        assert_eq!(
            exit_code(Verb::Decrypt, Some(f), &io("f.yaml", K::NotFound)),
            100
        );
        assert_eq!(
            exit_code(Verb::Rotate, Some(f), &io("f.yaml", K::NotFound)),
            2
        );
        assert_eq!(
            exit_code(Verb::Decrypt, Some(f), &io("out", K::NotFound)),
            3
        );
        assert_eq!(
            exit_code(Verb::Decrypt, Some(f), &sops(ErrorKind::DataKey, "")),
            128
        );
        assert_eq!(
            exit_code(Verb::Decrypt, Some(f), &sops(ErrorKind::Mac, "")),
            51
        );
        assert_eq!(
            exit_code(Verb::Decrypt, Some(f), &sops(ErrorKind::Decrypt, "")),
            25
        );
        assert_eq!(
            exit_code(Verb::Encrypt, Some(f), &sops(ErrorKind::Parse, "")),
            2
        );
        assert_eq!(
            exit_code(Verb::Decrypt, Some(f), &sops(ErrorKind::Parse, "")),
            1
        );
        assert_eq!(
            exit_code(
                Verb::Encrypt,
                Some(f),
                &sops(ErrorKind::AlreadyEncrypted, "")
            ),
            203
        );
        assert_eq!(
            exit_code(Verb::Set, Some(f), &sops(ErrorKind::Usage, "")),
            7
        );
        assert_eq!(
            exit_code(Verb::Encrypt, Some(f), &Error::Usage("no keys".into())),
            2
        );
    }
}
