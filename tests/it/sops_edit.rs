//! `sealbridge edit` (and `sealbridge FILE`) against the real sops: a scripted editor edits
//! the plaintext file, the result round-trips with `sops decrypt`, and the private plaintext
//! file is gone in every outcome (success, unchanged, failing editor, parse error, SIGTERM).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{self, stderr};

/// A test set-up: a work directory, a private TMPDIR (it must be empty after every run), two
/// age identities, and a sops file encrypted by the real sops for both.
struct Setup {
    _t: tempfile::TempDir,
    dir: PathBuf,
    tmp: PathBuf,
    log: PathBuf,
    key1: PathBuf,
    key2: PathBuf,
    r1: String,
    r2: String,
}

const PLAIN: &str =
    "db:\n    user: app\n    password: hunter2\nlist:\n    - one\n    - two\nport: 5432\n";

fn setup() -> Setup {
    let t = support::tempdir();
    let dir = t.path().join("work");
    let tmp = t.path().join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let key1 = t.path().join("key1.txt");
    let key2 = t.path().join("key2.txt");
    let r1 = support::age_key_file(&key1);
    let r2 = support::age_key_file(&key2);
    let s = Setup {
        log: t.path().join("editor.log"),
        _t: t,
        dir,
        tmp,
        key1,
        key2,
        r1,
        r2,
    };
    std::fs::write(s.dir.join("s.yaml"), PLAIN).unwrap();
    let o = s.sops(
        &[],
        &[
            "encrypt",
            "--age",
            &format!("{},{}", s.r1, s.r2),
            "-i",
            "s.yaml",
        ],
    );
    assert!(o.status.success(), "sops encrypt: {}", stderr(&o));
    s
}

impl Setup {
    /// An editor script in the work area; `body` runs with the file as `$1`. Every script
    /// first records the file's mode, its directory's mode and its path in the log.
    fn editor(&self, name: &str, body: &str) -> String {
        let p = self._t.path().join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nset -e\n{{ stat -c %a \"$1\"; stat -c %a \"$(dirname \"$1\")\"; echo \"$1\"; }} > {log}.tmp\nmv {log}.tmp {log}\n{body}\n",
                log = self.log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.to_str().unwrap().to_owned()
    }

    /// (file mode, directory mode, path) the editor saw.
    fn seen(&self) -> (String, String, PathBuf) {
        let log = std::fs::read_to_string(&self.log).expect("the editor ran");
        let l: Vec<&str> = log.lines().collect();
        (l[0].to_owned(), l[1].to_owned(), PathBuf::from(l[2]))
    }

    /// `c` (sealbridge or sops, with a clean environment and HOME in the work area) in the
    /// work directory with the private TMPDIR, the first identity, `env` and `args`.
    fn in_setup(&self, mut c: Command, env: &[(&str, &str)], args: &[&str]) -> Command {
        c.current_dir(&self.dir)
            .env("TMPDIR", &self.tmp)
            .env("SOPS_AGE_KEY_FILE", &self.key1)
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    fn home(&self) -> PathBuf {
        self._t.path().join("home")
    }

    fn sb_cmd(&self, env: &[(&str, &str)], args: &[&str]) -> Command {
        self.in_setup(support::sealbridge(&self.home()), env, args)
    }

    fn sb(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.sb_cmd(env, args).output().unwrap()
    }

    fn sops(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.in_setup(support::sops_cmd(&self.home()), env, args)
            .output()
            .unwrap()
    }

    /// `sops decrypt` with the SECOND identity (so the recipients were kept).
    fn real_decrypt(&self, file: &str) -> String {
        let o = self.sops(
            &[("SOPS_AGE_KEY_FILE", self.key2.to_str().unwrap())],
            &["decrypt", file],
        );
        assert!(o.status.success(), "sops decrypt: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    }

    fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(file)).unwrap()
    }

    /// Nothing is left in TMPDIR: no plaintext file, no private directory.
    fn assert_tmp_empty(&self, what: &str) {
        let left: Vec<_> = std::fs::read_dir(&self.tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "{what}: left behind in TMPDIR: {left:?}");
    }
}

fn recipients(enc: &[u8]) -> Vec<String> {
    let mut r: Vec<String> = String::from_utf8_lossy(enc)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- recipient: "))
        .map(str::to_owned)
        .collect();
    r.sort();
    r
}

fn line_of<'a>(enc: &'a str, key: &str) -> &'a str {
    enc.lines()
        .find(|l| l.trim_start().starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key}: line"))
}

#[test]
fn edit_round_trips_with_real_sops_keeps_recipients_and_wipes_the_plaintext() {
    let s = setup();
    let f = s.dir.join("s.yaml");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = String::from_utf8(s.read("s.yaml")).unwrap();
    let ed = s.editor(
        "ed.sh",
        "sed -i -e 's/hunter2/correct-horse/' -e 's/- two/- three/' \"$1\"",
    );
    let o = s.sb(&[("EDITOR", &ed)], &["edit", "s.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("hunter2") && !stderr(&o).contains("correct-horse"));
    let (fmode, dmode, path) = s.seen();
    assert_eq!((fmode.as_str(), dmode.as_str()), ("600", "700"));
    assert_eq!(path.file_name().unwrap(), "s.yaml", "named like the file");
    assert!(path.starts_with(&s.tmp), "under $TMPDIR: {path:?}");
    assert!(!path.exists() && !path.parent().unwrap().exists());
    s.assert_tmp_empty("after a successful edit");

    let want = PLAIN
        .replace("hunter2", "correct-horse")
        .replace("- two", "- three");
    assert_eq!(s.real_decrypt("s.yaml"), want);
    let after = String::from_utf8(s.read("s.yaml")).unwrap();
    assert_eq!(recipients(after.as_bytes()), recipients(before.as_bytes()));
    assert_eq!(recipients(after.as_bytes()).len(), 2);
    // The same data key: the age stanzas are unchanged.
    assert_eq!(line_of(&after, "enc"), line_of(&before, "enc"));
    // As sops: an unchanged value keeps its ciphertext (same IV), a changed one does not.
    assert_eq!(line_of(&after, "user"), line_of(&before, "user"));
    assert_eq!(line_of(&after, "port"), line_of(&before, "port"));
    assert_ne!(line_of(&after, "password"), line_of(&before, "password"));
    assert_ne!(line_of(&after, "mac"), line_of(&before, "mac"));
    // The original mode is kept (atomic replace through a sibling temporary file).
    let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let siblings: Vec<_> = std::fs::read_dir(&s.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("s.yaml")]);
}

#[test]
fn edit_keeps_unchanged_ciphertext_like_real_sops() {
    // The same edit with the real sops and with sealbridge: the same lines change.
    let s = setup();
    std::fs::copy(s.dir.join("s.yaml"), s.dir.join("t.yaml")).unwrap();
    let before = String::from_utf8(s.read("s.yaml")).unwrap();
    let ed = s.editor("ed.sh", "sed -i 's/hunter2/changed/' \"$1\"");
    let o = s.sops(&[("EDITOR", &ed)], &["edit", "t.yaml"]);
    assert!(o.status.success(), "sops edit: {}", stderr(&o));
    let o = s.sb(&[("EDITOR", &ed)], &["edit", "s.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours = String::from_utf8(s.read("s.yaml")).unwrap();
    let theirs = String::from_utf8(s.read("t.yaml")).unwrap();
    let changed = |after: &str| -> Vec<String> {
        before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.trim_start().split(':').next().unwrap().to_owned())
            // lastmodified has a one-second resolution: it may or may not change.
            .filter(|k| k != "lastmodified")
            .collect()
    };
    assert_eq!(changed(&ours), changed(&theirs));
    assert_eq!(changed(&ours), ["password", "mac"]);
}

#[test]
fn edit_unchanged_or_failing_editor_leaves_the_file_byte_identical() {
    let s = setup();
    let before = s.read("s.yaml");
    let nochange = s.editor("noop.sh", "true");
    let failing = s.editor("fail.sh", "sed -i 's/hunter2/x/' \"$1\"\nexit 3");
    for (editor, code, msg) in [
        (&nochange, 200, "File has not changed, exiting."),
        (&failing, 201, "Could not run editor"),
    ] {
        let o = s.sb(&[("EDITOR", editor)], &["edit", "s.yaml"]);
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
        assert_eq!(s.read("s.yaml"), before, "{editor}: file untouched");
        let (_, _, path) = s.seen();
        assert!(!path.exists(), "{editor}: plaintext removed");
        s.assert_tmp_empty(editor);
        // The real sops exits with the same code on the same input.
        let o = s.sops(&[("EDITOR", editor)], &["edit", "s.yaml"]);
        assert_eq!(o.status.code(), Some(code), "sops: {}", stderr(&o));
        s.assert_tmp_empty(editor);
    }
}

#[test]
fn edit_parse_error_without_a_terminal_keeps_the_file_and_never_prints_values() {
    let s = setup();
    let before = s.read("s.yaml");
    let ed = s.editor(
        "broken.sh",
        "printf 'db: {password: hunter2\\n  [unclosed: correct-horse\\n' > \"$1\"",
    );
    let o = s.sb(&[("EDITOR", &ed)], &["edit", "s.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("invalid syntax"), "{e}");
    assert!(e.contains("not a terminal"), "{e}");
    assert!(
        !e.contains("hunter2") && !e.contains("correct-horse"),
        "{e}"
    );
    assert_eq!(s.read("s.yaml"), before);
    let (_, _, path) = s.seen();
    assert!(!path.exists());
    s.assert_tmp_empty("after a parse error");
}

#[test]
fn edit_sigterm_while_the_editor_runs_removes_the_plaintext() {
    use nix::sys::signal::Signal;
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        let s = setup();
        let before = s.read("s.yaml");
        let ed = s.editor("slow.sh", "sed -i 's/hunter2/x/' \"$1\"\nexec sleep 600");
        let mut child = s
            .sb_cmd(&[("EDITOR", &ed)], &["edit", "s.yaml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let path = support::poll(Duration::from_secs(30), "the editor to start", || {
            let log = std::fs::read_to_string(&s.log).ok()?;
            let p = PathBuf::from(log.lines().nth(2)?);
            p.exists().then_some(p)
        });
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, sig).unwrap();
        let status = support::poll(Duration::from_secs(30), "sealbridge to exit", || {
            child.try_wait().unwrap()
        });
        assert_eq!(status.code(), Some(128 + sig as i32), "{sig}");
        assert!(!path.exists(), "{sig}: plaintext removed");
        assert_eq!(s.read("s.yaml"), before, "{sig}: file untouched");
        s.assert_tmp_empty(sig.as_str());
    }
}

#[test]
fn edit_new_file_uses_the_sops_yaml_rules_and_the_sops_template() {
    let s = setup();
    std::fs::create_dir_all(s.dir.join("secrets")).unwrap();
    std::fs::write(
        s.dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    encrypted_regex: ^(hello|example_key)$\n    age: {}\n  - age: {}\n",
            s.r2, s.r1
        ),
    )
    .unwrap();
    // The template each store starts from is sops' own.
    for ext in ["yaml", "json", "env", "ini", "bin"] {
        let capture = |tool: &str| {
            let out = s._t.path().join(format!("{tool}.{ext}"));
            let ed = s.editor(
                &format!("cap-{tool}-{ext}.sh"),
                &format!("cp \"$1\" {}", out.display()),
            );
            let file = format!("secrets/new-{tool}.{ext}");
            let o = if tool == "sops" {
                s.sops(&[("EDITOR", &ed)], &["edit", &file])
            } else {
                s.sb(&[("EDITOR", &ed)], &["edit", &file])
            };
            assert_eq!(o.status.code(), Some(200), "{tool} {ext}: {}", stderr(&o));
            assert!(!s.dir.join(&file).exists(), "unchanged: nothing created");
            std::fs::read(out).unwrap()
        };
        assert_eq!(capture("sealbridge"), capture("sops"), "{ext} template");
        s.assert_tmp_empty(ext);
    }
    let ed = s.editor("ed.sh", "sed -i 's/example_value$/created/' \"$1\"");
    let o = s.sb(&[("EDITOR", &ed)], &["edit", "secrets/new.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    s.assert_tmp_empty("new file");
    let enc = String::from_utf8(s.read("secrets/new.yaml")).unwrap();
    assert_eq!(recipients(enc.as_bytes()), vec![s.r2.clone()]);
    assert!(
        enc.contains("encrypted_regex: ^(hello|example_key)$"),
        "{enc}"
    );
    assert!(
        enc.contains("example_number: 1234.56789"),
        "not encrypted by the rule"
    );
    let plain = s.real_decrypt("secrets/new.yaml");
    assert!(plain.contains("example_key: created\n"), "{plain}");
    let mode = std::fs::metadata(s.dir.join("secrets/new.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "a new file is private");
}

#[test]
fn bare_file_argument_edits_a_sops_file_but_keeps_the_kustomize_plugin_form() {
    let s = setup();
    // `sealbridge FILE` on a sops file is `sealbridge edit FILE`.
    let ed = s.editor("ed.sh", "sed -i 's/hunter2/shorthand/' \"$1\"");
    let o = s.sb(&[("EDITOR", &ed)], &["s.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.real_decrypt("s.yaml").contains("password: shorthand\n"));
    s.assert_tmp_empty("shorthand");

    // A generator configuration (no sops metadata) still runs the legacy exec plugin.
    let t = support::tempdir();
    let k = t.path().join("k");
    crate::cmp::copy_dir(
        &support::project_root().join("examples/kustomize/legacy"),
        &k,
    );
    let demo_key = support::project_root().join("examples/kustomize/demo-age-key.txt");
    let trap = s.editor("trap.sh", "echo edited > \"$1\"");
    std::fs::remove_file(&s.log).unwrap();
    let home = support::tempdir();
    let run = |prog: &Path, arg: &str| {
        let mut c = Command::new(prog);
        support::clean_env(&mut c, home.path());
        c.current_dir(&k)
            .env("SOPS_AGE_KEY_FILE", &demo_key)
            .env("EDITOR", &trap)
            .env("TMPDIR", &s.tmp)
            .arg(arg)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_sealbridge"));
    let o = run(&bin, "secret-generator.yaml");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("kind: Secret") && out.contains("db-credentials"),
        "{out}"
    );

    // Under kustomize's plugin names argv is never an edit, even for a sops file.
    let before = std::fs::read(k.join("api-token.enc.yaml")).unwrap();
    for name in ["ksops", "SecretGenerator"] {
        let link = t.path().join(name);
        std::os::unix::fs::symlink(&bin, &link).unwrap();
        let o = run(&link, "api-token.enc.yaml");
        assert!(!o.status.success(), "{name}: not a generator config");
        assert_eq!(std::fs::read(k.join("api-token.enc.yaml")).unwrap(), before);
    }
    assert!(!s.log.exists(), "the editor never ran for the plugin forms");
}

#[test]
fn edit_parse_error_on_a_terminal_reopens_the_editor_like_sops() {
    // A real terminal: util-linux `script` runs sealbridge on a pseudo-terminal.
    let script = Path::new("/usr/bin/script");
    assert!(
        script.is_file(),
        "this test needs util-linux `script` (apt-get install bsdutils)"
    );
    let s = setup();
    let count = s._t.path().join("runs");
    let ed = s.editor(
        "twice.sh",
        &format!(
            "echo x >> {c}\nif [ \"$(wc -l < {c})\" -eq 1 ]; then printf 'a: [unclosed\\n' > \"$1\"; else printf 'fixed: done\\n' > \"$1\"; fi",
            c = count.display()
        ),
    );
    let home = s.home();
    let mut c = Command::new(script);
    support::clean_env(&mut c, &home);
    c.current_dir(&s.dir)
        .env("TMPDIR", &s.tmp)
        .env("SOPS_AGE_KEY_FILE", &s.key1)
        .env("EDITOR", &ed)
        .args(["-qec"])
        .arg(format!("{} edit s.yaml", env!("CARGO_BIN_EXE_sealbridge")))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The answer to "Press enter to return to the editor" (kept open until the end).
    std::io::Write::write_all(&mut stdin, b"\n").unwrap();
    let status = support::poll(Duration::from_secs(60), "sealbridge to exit", || {
        child.try_wait().unwrap()
    });
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(status.success(), "{out}");
    assert!(out.contains("invalid syntax"), "{out}");
    assert!(out.contains("Press enter to return to the editor"), "{out}");
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
    assert_eq!(s.real_decrypt("s.yaml"), "fixed: done\n");
    s.assert_tmp_empty("after re-opening");
}

#[test]
fn edit_overwrites_the_plaintext_and_editor_copies_instead_of_only_unlinking() {
    // Hard links taken by the editor keep the inodes observable after the directory is gone:
    // the original file, the file the editor renamed over it (sed -i) and a swap-like copy.
    let s = setup();
    let out = s._t.path().join("links");
    std::fs::create_dir_all(&out).unwrap();
    let ed = s.editor(
        "linker.sh",
        &format!(
            "ln \"$1\" {o}/orig\nsed -i 's/hunter2/changed/' \"$1\"\nln \"$1\" {o}/new\ncp \"$1\" \"$(dirname \"$1\")/.s.yaml.swp\"\nln \"$(dirname \"$1\")/.s.yaml.swp\" {o}/swp",
            o = out.display()
        ),
    );
    let o = s.sb(&[("EDITOR", &ed)], &["edit", "s.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    s.assert_tmp_empty("after the edit");
    for name in ["orig", "new", "swp"] {
        let b = std::fs::read(out.join(name)).unwrap();
        assert!(!b.is_empty(), "{name}: same length as the plaintext");
        assert!(b.iter().all(|&x| x == 0), "{name}: overwritten with zeros");
    }
    assert!(s.real_decrypt("s.yaml").contains("password: changed\n"));
}
