//! `sealbridge edit FILE` (and `sealbridge FILE` for an existing sops file), as `sops edit`:
//! the plaintext goes into a 0600 file in a new 0700 directory, the editor runs on it, and the
//! result is validated, re-encrypted with the same data key and recipients and written back
//! atomically. The plaintext file (and anything else the editor left in its directory) is
//! overwritten with zeros and removed in every outcome, including SIGINT/SIGTERM/SIGHUP.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::sops::{
    FormatArgs, NewFileFlags, PrivateDir, Signals, decrypt_to_tree, emit_options, exit_with,
    key_sources, new_file_options, parse_format, write_file,
};
use crate::error::{Error, Result};
use crate::settings::Flags;
use crate::sops::{self as sops_lib, Format};

/// sops' exit code when the edited file is unchanged (`FileHasNotBeenModified`).
pub(super) const EXIT_NOT_MODIFIED: i32 = 200;
/// sops' exit code when the editor cannot be run or fails (`NoEditorFound`).
pub(super) const EXIT_NO_EDITOR: i32 = 201;

/// Arguments of `edit`.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The sops-encrypted file; a new one (from a template, keys from `.sops.yaml` or the
    /// flags) if it does not exist.
    pub file: PathBuf,
    /// New file: its keys (flags, else the `.sops.yaml` rule).
    #[command(flatten)]
    pub keys: super::sops::KeyArgs,
    /// New file: encrypt only values under keys matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// New file: leave values under keys matching this regex in clear.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// New file: encrypt only values under keys ending with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// New file: leave values under keys ending with this suffix in clear.
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// New file: number of key groups needed to decrypt (Shamir).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    /// Decrypt even if the MAC does not match (the new MAC covers the edited values).
    #[arg(long)]
    pub ignore_mac: bool,
    /// sops' `--show-master-keys`: not supported (the metadata is not edited by hand).
    #[arg(long, short = 's', hide = true)]
    pub show_master_keys: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// sops' templates for a new file (`EmitExample` of each store).
fn template(format: Format) -> &'static [u8] {
    match format {
        Format::Yaml => b"hello: Welcome to SOPS! Edit this file as you please!\nexample_key: example_value\n# Example comment\nexample_array:\n    - example_value1\n    - example_value2\nexample_number: 1234.56789\nexample_booleans:\n    - true\n    - false\n",
        Format::Json => b"{\n\t\"hello\": \"Welcome to SOPS! Edit this file as you please!\",\n\t\"example_key\": \"example_value\",\n\t\"example_array\": [\n\t\t\"example_value1\",\n\t\t\"example_value2\"\n\t],\n\t\"example_number\": 1234.56789,\n\t\"example_booleans\": [\n\t\ttrue,\n\t\tfalse\n\t]\n}\n",
        Format::Dotenv => b"# This is an example file.\nhello=Welcome to SOPS! Edit this file as you please!\nexample_key=example_value\nexample_multiline=foo\\nbar\\nbaz\n",
        Format::Ini => b"; This is an example file.\n[Welcome!]\nhello       = Welcome to SOPS! Edit this file as you please!\nexample_key = example_value\n",
        Format::Binary => b"Welcome to SOPS! Edit this file as you please!",
    }
}

/// Splits `$SOPS_EDITOR`/`$EDITOR` into words as sops does (github.com/google/shlex): blanks
/// separate words, `'…'` is literal, `"…"` and bare words take `\` escapes, `#` at the start
/// of a word starts a comment. `None` for an unterminated quote or escape.
pub(super) fn split_editor(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => {
                // A comment to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\\' => {
                cur.push(chars.next()?);
                in_word = true;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        c => cur.push(c),
                    }
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// The editor's command line: `$SOPS_EDITOR`, else `$EDITOR` (split like sops), else the first
/// of `vim`, `nano`, `vi` on `PATH`.
fn editor_command() -> std::result::Result<Vec<OsString>, String> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let text = v.to_string_lossy();
        return match split_editor(&text) {
            Some(words) if !words.is_empty() => Ok(words.into_iter().map(OsString::from).collect()),
            _ => Err(format!("invalid ${var}: {text}")),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["vim", "nano", "vi"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(vec![candidate.into_os_string()]);
            }
        }
    }
    Err(
        "no editor available: sealbridge uses the editor in SOPS_EDITOR or EDITOR, and if \
         neither is set any of vim, nano, vi, but none of them could be found"
            .to_owned(),
    )
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Creates the private 0700 directory under `$TMPDIR` and the 0600 plaintext file in it, named
/// like the edited file (as sops does, so the editor picks the right syntax).
fn private_file(file: &Path, plain: &[u8]) -> Result<(PrivateDir, PathBuf)> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut guard = crate::supervise::private_dir(".sealbridge-edit-")?;
    let name = file
        .file_name()
        .filter(|n| !n.is_empty())
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_else(|| OsString::from("tmp-file"));
    let path = guard.dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let res = f.write_all(plain).and_then(|()| f.flush());
    guard.file = Some(f);
    res.map_err(|e| Error::io(&path, e))?;
    Ok((guard, path))
}

/// Reads the edited file (never through a symlink).
fn read_edited(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// `a.b.c` newer than `b` (numeric parts; unparsable counts as older).
fn version_newer(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Option<Vec<u64>> {
        s.split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse::<u64>().ok())
            .collect()
    };
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x > y,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The outcome of the editor loop.
enum Outcome {
    /// The new plaintext documents.
    Edited(Vec<sops_lib::Map>),
    /// Leave with this code (after the message was printed).
    Exit(i32),
}

/// Runs `edit`.
pub(super) fn edit(a: EditArgs, flags: &Flags) -> Result<()> {
    if a.show_master_keys {
        return Err(Error::Usage(
            "--show-master-keys is not supported: sealbridge does not let the metadata be \
             edited by hand; use `rotate`/`updatekeys` to change keys"
                .to_owned(),
        ));
    }
    if a.file == Path::new("-") {
        return Err(Error::Usage(
            "edit needs a file (it is rewritten in place)".to_owned(),
        ));
    }
    let exists = std::fs::symlink_metadata(&a.file).is_ok();
    let mut d = if exists {
        decrypt_to_tree(Some(&a.file), &a.format, a.ignore_mac, key_sources(flags))?
    } else {
        if let Some(parent) = a.file.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(Error::Usage(format!(
                "{}: cannot create the file: the directory {} does not exist",
                a.file.display(),
                parent.display()
            )));
        }
        let format = parse_format(&a.format.input_type, "--input-type")?
            .unwrap_or_else(|| Format::from_path(&a.file));
        let rule = super::sops::rule_from_flags([
            ("unencrypted_suffix", a.unencrypted_suffix.as_deref()),
            ("encrypted_suffix", a.encrypted_suffix.as_deref()),
            ("unencrypted_regex", a.unencrypted_regex.as_deref()),
            ("encrypted_regex", a.encrypted_regex.as_deref()),
        ])?;
        let opts = new_file_options(
            &NewFileFlags {
                keys: a.keys.flags(),
                rule,
                mac_only_encrypted: false,
                shamir_threshold: a.shamir_secret_sharing_threshold,
            },
            &a.format,
            &a.file,
            Some(&a.file),
            flags,
        )?;
        sops_lib::new_file(format, &opts).map_err(|e| e.in_file(&a.file))?
    };
    if let Some(t) = parse_format(&a.format.output_type, "--output-type")? {
        d.format = t;
    }
    let emit = emit_options(&a.format, Some(&a.file))?;
    let plain = if exists {
        d.emit_with(d.format, &emit)?
    } else {
        let t = template(d.format);
        match d.format {
            // Laid out with the configured indentation, as sops' example is.
            Format::Yaml | Format::Json => {
                let docs = sops_lib::stores::load_plain(d.format, t)
                    .map_err(|m| Error::Usage(format!("the built-in template: {m}")))?;
                sops_lib::stores::emit_plain(d.format, &docs, &emit)
                    .map_err(|m| Error::Usage(format!("the built-in template: {m}")))?
            }
            _ => Zeroizing::new(t.to_vec()),
        }
    };
    let original = Sha256::digest(&plain[..]);
    // From here on SIGINT/SIGTERM/SIGHUP do not kill sealbridge: they are forwarded to the
    // editor, and the plaintext file is wiped and removed before sealbridge exits.
    let mut signals = Signals::catch()?;
    let (guard, path) = private_file(&a.file, &plain)?;
    drop(plain);
    let outcome = editor_loop(&mut signals, &path, &original, d.format);
    drop(guard);
    let docs = match outcome? {
        Outcome::Edited(docs) => docs,
        Outcome::Exit(code) => return exit_with(code),
    };
    d.docs = docs;
    if version_newer(sops_lib::SOPS_VERSION, &d.metadata.version) {
        d.metadata.version = sops_lib::SOPS_VERSION.to_owned();
    }
    let out = d.reencrypt(&emit).map_err(|e| e.in_file(&a.file))?;
    write_file(&a.file, &out)?;
    tracing::info!("File written successfully");
    Ok(())
}

/// Runs the editor until the file parses (or it is unchanged, the editor fails, a signal
/// arrives, or without a terminal the user cannot be asked to fix a parse error).
fn editor_loop(
    signals: &mut Signals,
    path: &Path,
    original: &[u8],
    format: Format,
) -> Result<Outcome> {
    let editor = match editor_command() {
        Ok(e) => e,
        Err(m) => {
            eprintln!("sealbridge: Could not run editor: {m}");
            return Ok(Outcome::Exit(EXIT_NO_EDITOR));
        }
    };
    let interactive = std::io::stdin().is_terminal();
    let mut argv = editor.clone();
    argv.push(path.as_os_str().to_os_string());
    loop {
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        let code = match signals.wait_child(cmd, &argv[0]) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("sealbridge: Could not run editor: {e}");
                return Ok(Outcome::Exit(EXIT_NO_EDITOR));
            }
        };
        if let Some(s) = signals.caught {
            eprintln!("sealbridge: interrupted by {s}; the file was not changed");
            return Ok(Outcome::Exit(128 + s as i32));
        }
        if code != 0 {
            eprintln!(
                "sealbridge: Could not run editor: {} exited with status {code}; the file was not changed",
                argv[0].to_string_lossy()
            );
            return Ok(Outcome::Exit(EXIT_NO_EDITOR));
        }
        let edited = read_edited(path)?;
        if Sha256::digest(&edited[..]).as_slice() == original {
            eprintln!("sealbridge: File has not changed, exiting.");
            return Ok(Outcome::Exit(EXIT_NOT_MODIFIED));
        }
        let problem = match sops_lib::stores::load_plain(format, &edited) {
            Ok(docs) if docs.is_empty() => {
                "File cannot be completely empty, it must contain at least one document".to_owned()
            }
            Ok(docs) if sops_lib::stores::has_sops_key(format, &docs) => {
                "the file has a top-level 'sops' key (File already encrypted)".to_owned()
            }
            Ok(docs) => return Ok(Outcome::Edited(docs)),
            Err(m) => format!("Could not load tree, probably due to invalid syntax: {m}"),
        };
        drop(edited);
        if !interactive {
            eprintln!(
                "sealbridge: {problem}; standard input is not a terminal, so the editor is not \
                 re-opened: the file was not changed"
            );
            return Ok(Outcome::Exit(1));
        }
        eprintln!("sealbridge: {problem}. Press enter to return to the editor, or Ctrl+C to exit.");
        if let Some(s) = signals.wait_line()? {
            eprintln!("sealbridge: interrupted by {s}; the file was not changed");
            return Ok(Outcome::Exit(128 + s as i32));
        }
    }
}

/// Whether `path` is a sops-encrypted file (its store parses it and finds valid `sops`
/// metadata): `sealbridge FILE` then means `sealbridge edit FILE`.
pub(super) fn is_sops_file(path: &Path) -> bool {
    is_sops_file_as(path, None)
}

/// [`is_sops_file`] with the store given (`None`: from the file name).
pub(super) fn is_sops_file_as(path: &Path, format: Option<Format>) -> bool {
    let Ok(md) = std::fs::metadata(path) else {
        return false;
    };
    // A generator configuration or a sops file is small; do not read a huge file to decide.
    if !md.is_file() || md.len() > 64 * 1024 * 1024 {
        return false;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    sops_lib::load_encrypted(&bytes, format.unwrap_or_else(|| Format::from_path(path))).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_is_split_like_google_shlex() {
        let s = |x: &str| split_editor(x).map(|v| v.join("|"));
        assert_eq!(s("vim").as_deref(), Some("vim"));
        assert_eq!(s("code --wait").as_deref(), Some("code|--wait"));
        assert_eq!(
            s(r#"'/opt/my editor/bin' -f "a b" c\ d"#).as_deref(),
            Some("/opt/my editor/bin|-f|a b|c d")
        );
        assert_eq!(s("emacs # comment").as_deref(), Some("emacs"));
        assert_eq!(s("a#b").as_deref(), Some("a#b"));
        assert_eq!(s(r#""x\"y""#).as_deref(), Some(r#"x"y"#));
        assert_eq!(s("'open"), None);
        assert_eq!(s("trailing\\"), None);
        assert_eq!(s("   ").as_deref(), Some(""));
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_newer("3.11.0", "3.9.1"));
        assert!(!version_newer("3.11.0", "3.11.0"));
        assert!(!version_newer("3.11.0", "3.13.0"));
        assert!(version_newer("3.11.0", "junk"));
    }
}
