//! sops' smaller verbs and flags, each run with the real sops on the same input:
//! `filestatus`, the `-d`/`-e`/`-r` mode flags, `encrypt --filename-override`,
//! `decrypt --extract`, and `updatekeys` (summary, confirmation, directories).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{self, stderr};

struct Env {
    t: tempfile::TempDir,
    dir: PathBuf,
    key1: PathBuf,
    r1: String,
    r2: String,
    key2: PathBuf,
}

fn env() -> Env {
    let t = support::tempdir();
    let dir = t.path().join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let key1 = t.path().join("k1.txt");
    let key2 = t.path().join("k2.txt");
    let r1 = support::age_key_file(&key1);
    let r2 = support::age_key_file(&key2);
    Env {
        t,
        dir,
        key1,
        r1,
        r2,
        key2,
    }
}

impl Env {
    /// `prog` in the work directory with `SOPS_AGE_KEY_FILE=key`; stdin is a pipe that gets
    /// `stdin` (if any) and is closed.
    fn run_with_key(&self, prog: &Path, key: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let home = self.t.path().join("home");
        let mut c = Command::new(prog);
        support::clean_env(&mut c, &home);
        c.current_dir(&self.dir)
            .env("SOPS_AGE_KEY_FILE", key)
            .args(args);
        support::output_with_stdin(c, Some(stdin.unwrap_or_default()))
    }
    fn run(&self, prog: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
        self.run_with_key(prog, &self.key1, args, stdin)
    }
    fn sb(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        self.run(Path::new(env!("CARGO_BIN_EXE_sealbridge")), args, stdin)
    }
    fn sops(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        self.run(&support::sops(), args, stdin)
    }
    fn write(&self, rel: &str, text: &str) {
        support::write(&self.dir, rel, text);
    }
    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(rel)).unwrap()
    }
    /// Encrypts `rel` in place with the real sops for `recipients`.
    fn sops_encrypt(&self, rel: &str, recipients: &str) {
        let o = self.sops(&["encrypt", "--age", recipients, "-i", rel], None);
        assert!(o.status.success(), "sops encrypt {rel}: {}", stderr(&o));
    }
}

fn recipients(enc: &[u8]) -> Vec<String> {
    let mut r: Vec<String> = String::from_utf8_lossy(enc)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("- recipient: ")
                .or_else(|| l.strip_prefix("\"recipient\": \""))
        })
        .map(|s| s.trim_end_matches(['"', ',']).to_owned())
        .collect();
    r.sort();
    r
}

#[test]
fn filestatus_prints_what_sops_prints() {
    let e = env();
    e.write("enc.yaml", "a: b\n");
    e.sops_encrypt("enc.yaml", &e.r1);
    e.write("enc.json", "{\"a\": 1}\n");
    e.sops_encrypt("enc.json", &e.r1);
    e.write("plain.yaml", "a: b\n");
    e.write("plain.env", "A=b\n");
    e.write("broken.yaml", "a: [\n");
    for args in [
        &["filestatus", "enc.yaml"][..],
        &["filestatus", "enc.json"],
        &["filestatus", "plain.yaml"],
        &["filestatus", "plain.env"],
        &["filestatus", "--input-type", "json", "enc.json"],
        &["filestatus", "broken.yaml"],
        &["filestatus", "missing.yaml"],
        &["filestatus", "--input-type", "json", "enc.yaml"],
    ] {
        let ours = e.sb(args, None);
        let theirs = e.sops(args, None);
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{args:?}"
        );
        assert_eq!(
            ours.status.success(),
            theirs.status.success(),
            "{args:?}: {}",
            stderr(&ours)
        );
    }
    assert_eq!(
        e.sb(&["filestatus", "enc.yaml"], None).stdout,
        b"{\"encrypted\":true}\n"
    );
}

#[test]
fn mode_flags_and_extract_behave_like_sops() {
    let e = env();
    let plain = "db:\n    user: app\n    port: 5432\nlist:\n    - one\n    - two: 2\n";
    e.write("s.yaml", plain);
    e.sops_encrypt("s.yaml", &e.r1);
    for args in [
        &["-d", "s.yaml"][..],
        &["--decrypt", "s.yaml"],
        &["-d", "--extract", "[\"db\"][\"user\"]", "s.yaml"],
        &["-d", "--extract", "[\"db\"]", "s.yaml"],
        &["-d", "--extract", "[\"db\"][\"port\"]", "s.yaml"],
        &["-d", "--extract", "[\"list\"][1]", "s.yaml"],
        &[
            "-d",
            "--extract",
            "[\"list\"][0]",
            "--output-type",
            "json",
            "s.yaml",
        ],
        &["decrypt", "--extract", "[\"list\"]", "s.yaml"],
        &["-d", "--extract", "[\"nope\"]", "s.yaml"],
        &["-d", "--extract", "[\"list\"][7]", "s.yaml"],
    ] {
        let ours = e.sb(args, None);
        let theirs = e.sops(args, None);
        assert_eq!(
            ours.status.success(),
            theirs.status.success(),
            "{args:?}: {}",
            stderr(&ours)
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{args:?}"
        );
    }
    // decrypt --filename-override: the format from the name (standard input).
    let enc = e.read("s.yaml");
    let args = ["decrypt", "--filename-override", "x.yaml"];
    let ours = e.sb(&args, Some(&enc));
    let theirs = e.sops(&args, Some(&enc));
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!(String::from_utf8_lossy(&ours.stdout), plain);
    // -e -i, then -r: the real sops decrypts the results.
    e.write("n.yaml", "k: v\n");
    let o = e.sb(&["-e", "-i", "--age", &e.r1, "n.yaml"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = e.sops(&["decrypt", "n.yaml"], None);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "k: v\n");
    let before = e.read("n.yaml");
    let o = e.sb(&["-r", "-i", "n.yaml"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(e.read("n.yaml"), before, "rotated");
    let o = e.sops(&["decrypt", "n.yaml"], None);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "k: v\n");
    // Two mode flags, or one next to a verb, are not rewritten (clap reports the usage error).
    let o = e.sb(&["-d", "-e", "n.yaml"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn encrypt_filename_override_picks_the_rule_and_format_like_sops() {
    let e = env();
    e.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^prod/\n    encrypted_regex: ^pass\n    age: {}\n  - age: {}\n",
            e.r2, e.r1
        ),
    );
    let input = b"{\"user\": \"app\", \"password\": \"hunter2\"}\n";
    let args = ["encrypt", "--filename-override", "prod/db.json"];
    let ours = e.sb(&args, Some(input));
    assert!(ours.status.success(), "{}", stderr(&ours));
    let theirs = e.sops(&args, Some(input));
    assert!(theirs.status.success(), "sops: {}", stderr(&theirs));
    for out in [&ours.stdout, &theirs.stdout] {
        let text = String::from_utf8_lossy(out);
        assert!(
            text.starts_with('{'),
            "JSON from the override's name: {text}"
        );
        assert!(
            text.contains("\"user\": \"app\""),
            "rule from the override: {text}"
        );
        assert_eq!(recipients(out), vec![e.r2.clone()]);
    }
    std::fs::write(e.dir.join("ours.json"), &ours.stdout).unwrap();
    let o = e.run_with_key(&support::sops(), &e.key2, &["decrypt", "ours.json"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"password\": \"hunter2\""));
}

#[test]
fn updatekeys_prints_sops_summary_confirms_and_walks_directories() {
    let e = env();
    e.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n", e.r1),
    );
    e.write("a/x.yaml", "k: one\n");
    e.write("a/deep/y.json", "{\"k\": \"two\"}\n");
    e.write("a/plain.yaml", "not: encrypted\n");
    e.sops_encrypt("a/x.yaml", &e.r1);
    e.sops_encrypt("a/deep/y.json", &e.r1);
    std::fs::copy(e.dir.join("a/x.yaml"), e.dir.join("x-sops.yaml")).unwrap();
    e.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {},{}\n", e.r1, e.r2),
    );
    // The same summary and prompt as sops; "n" leaves the file unchanged.
    let before = e.read("x-sops.yaml");
    let ours = e.sb(&["updatekeys", "x-sops.yaml"], Some(b"n\n"));
    let theirs = e.sops(&["updatekeys", "x-sops.yaml"], Some(b"n\n"));
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert!(theirs.status.success(), "{}", stderr(&theirs));
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&theirs.stdout)
    );
    assert!(String::from_utf8_lossy(&ours.stdout).contains(&format!("+++ {}\n", e.r2)));
    assert_eq!(e.read("x-sops.yaml"), before);
    // Without --yes and without an answer nothing is changed, and the run fails.
    let o = e.sb(&["updatekeys", "a"], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(recipients(&e.read("a/x.yaml")), vec![e.r1.clone()]);
    // A directory: every sops file below it, recursively; plaintext files are left alone.
    let o = e.sb(&["updatekeys", "--yes", "a"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut both = vec![e.r1.clone(), e.r2.clone()];
    both.sort();
    assert_eq!(recipients(&e.read("a/x.yaml")), both);
    assert_eq!(recipients(&e.read("a/deep/y.json")), both);
    assert_eq!(e.read("a/plain.yaml"), b"not: encrypted\n");
    for f in ["a/x.yaml", "a/deep/y.json"] {
        let o = e.run_with_key(&support::sops(), &e.key2, &["decrypt", f], None);
        assert!(o.status.success(), "{f}: {}", stderr(&o));
    }
    // Up to date now.
    let o = e.sb(&["updatekeys", "-y", "a"], None);
    assert!(o.status.success() && o.stdout.is_empty(), "{}", stderr(&o));
}

#[test]
fn sops_verbs_exit_with_sops_codes_on_the_same_failures() {
    let e = env();
    e.write("p.yaml", "a: one\nb: two\n");
    let o = e.sops(&["encrypt", "--age", &e.r1, "p.yaml"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let enc = String::from_utf8(o.stdout).unwrap();
    e.write("e.yaml", &enc);
    let b_line = enc.lines().find(|l| l.starts_with("b: ")).unwrap();
    let bad_value = "b: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";
    e.write("tval.yaml", &enc.replace(b_line, bad_value));
    e.write("tdel.yaml", &enc.replace(&format!("{b_line}\n"), ""));
    e.write("broken.yaml", "a: [\n");
    e.write("empty.yaml", "");
    let nokey = e.t.path().join("none.txt");
    std::fs::write(&nokey, "").unwrap();
    let r1 = e.r1.clone();
    let cases: Vec<(Vec<&str>, bool)> = vec![
        (vec!["decrypt", "missing.yaml"], false),
        (vec!["-d", "missing.yaml"], false),
        (vec!["decrypt", "e.yaml"], true),
        (vec!["decrypt", "tval.yaml"], false),
        (vec!["decrypt", "tdel.yaml"], false),
        (vec!["decrypt", "p.yaml"], false),
        (vec!["decrypt", "broken.yaml"], false),
        (vec!["decrypt", "--extract", "[\"zz\"]", "e.yaml"], false),
        (vec!["decrypt", "--extract", "zz", "e.yaml"], false),
        (
            vec!["decrypt", "--output", "/nonexistent/dir/x", "e.yaml"],
            false,
        ),
        (vec!["encrypt", "--age", &r1, "e.yaml"], false),
        (vec!["encrypt", "--age", &r1, "empty.yaml"], false),
        (vec!["encrypt", "--age", &r1, "broken.yaml"], false),
        (vec!["rotate", "missing.yaml"], false),
        (vec!["set", "e.yaml", "[\"a\"]", "notjson"], false),
        (vec!["set", "e.yaml", "bad", "\"x\""], false),
        (vec!["unset", "e.yaml", "[\"zz\"]"], false),
        (vec!["exec-env", "missing.yaml", "true"], false),
        (vec!["filestatus", "missing.yaml"], false),
    ];
    for (args, wrong_key) in &cases {
        let run = |sops: bool| {
            let home = e.t.path().join("home");
            let prog = if sops {
                support::sops()
            } else {
                PathBuf::from(env!("CARGO_BIN_EXE_sealbridge"))
            };
            let mut c = Command::new(prog);
            support::clean_env(&mut c, &home);
            let key = if *wrong_key { &nokey } else { &e.key1 };
            c.current_dir(&e.dir)
                .env("SOPS_AGE_KEY_FILE", key)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let (ours, theirs) = (run(false), run(true));
        assert!(!theirs.status.success(), "{args:?}: sops failed");
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{args:?}: ours: {}\nsops: {}",
            stderr(&ours),
            stderr(&theirs)
        );
        assert!(ours.stdout.is_empty(), "{args:?}");
    }
    // Other commands keep sealbridge's 0/1/2.
    let o = e.sb(&["render", "missing.yaml"], None);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn groups_add_and_delete_change_the_key_groups_like_sops() {
    let e = env();
    e.write("s.yaml", "a: secret-groups-value\nb: 2\n");
    e.sops_encrypt("s.yaml", &e.r1);
    let both = e.t.path().join("both.txt");
    std::fs::write(
        &both,
        [
            std::fs::read(&e.key1).unwrap(),
            std::fs::read(&e.key2).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    // sealbridge adds a group for key 2: the file needs both groups now (threshold 2).
    let o = e.sb(
        &["groups", "add", "--file", "s.yaml", "--age", &e.r2, "-i"],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(e.read("s.yaml")).unwrap();
    assert!(
        text.contains("key_groups:") && text.contains("shamir_threshold: 2"),
        "{text}"
    );
    let only1 = e.sops(&["decrypt", "s.yaml"], None);
    assert_eq!(only1.status.code(), Some(128), "one group is not enough");
    let run_both = |prog: &Path, args: &[&str]| e.run_with_key(prog, &both, args, None);
    for prog in [
        support::sops(),
        PathBuf::from(env!("CARGO_BIN_EXE_sealbridge")),
    ] {
        let o = run_both(&prog, &["decrypt", "s.yaml"]);
        assert!(o.status.success(), "{}: {}", prog.display(), stderr(&o));
        assert_eq!(o.stdout, b"a: secret-groups-value\nb: 2\n");
    }
    // The same change by the real sops gives the same layout (keys and threshold).
    e.write("t.yaml", "a: secret-groups-value\nb: 2\n");
    e.sops_encrypt("t.yaml", &e.r1);
    let o = e.sops(
        &["groups", "add", "--file", "t.yaml", "--age", &e.r2, "-i"],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let sops_text = String::from_utf8(e.read("t.yaml")).unwrap();
    let shape = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                let l = l.trim_start();
                l.starts_with("- age:")
                    || l.starts_with("key_groups")
                    || l.starts_with("shamir")
                    || l.starts_with("- recipient")
                    || l.starts_with("age:")
            })
            .map(|l| {
                if l.contains("recipient") {
                    "recipient".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect()
    };
    assert_eq!(shape(&text), shape(&sops_text));
    // Deleting group 1 leaves key 1 alone (one group, flat layout again).
    // (Deleting needs the data key: both groups' keys.)
    let o = run_both(
        Path::new(env!("CARGO_BIN_EXE_sealbridge")),
        &["groups", "delete", "--file", "s.yaml", "1", "-i"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(e.read("s.yaml")).unwrap();
    assert!(
        !text.contains("key_groups") && recipients(text.as_bytes()) == [e.r1.clone()],
        "{text}"
    );
    let o = e.sops(&["decrypt", "s.yaml"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    // No such group: a usage error.
    let o = e.sb(&["groups", "delete", "--file", "s.yaml", "3"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
