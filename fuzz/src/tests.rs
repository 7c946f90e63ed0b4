//! Runs every target over the seed corpus (the project's test fixtures and docs) and over
//! deterministic mutations of it, plus proptest-generated inputs: a stable-Rust stand-in for a
//! short fuzzing session. Raise `SEALBRIDGE_FUZZ_MUTATIONS` for a longer run.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file (at most 64 KiB) below the given project directories, in a stable order.
fn seeds(dirs: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.iter().map(|d| root().join(d)).collect();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            stack.extend(entries.into_iter().rev());
        } else if let Ok(bytes) = std::fs::read(&p)
            && bytes.len() <= 64 * 1024
        {
            out.push((p, bytes));
        }
    }
    assert!(out.len() > 5, "no seed corpus found under {dirs:?}");
    out
}

/// Tokens that matter to our parsers, inserted by the mutator.
const DICT: &[&str] = &[
    "<",
    ">",
    "|",
    "#",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    ":",
    "- ",
    "\n",
    "\n  ",
    "\t",
    "\\",
    "&a ",
    "*a",
    "!!binary ",
    "!!str ",
    "---\n",
    "...\n",
    "? ",
    "ENC[AES256_GCM,data:",
    ",iv:",
    ",tag:",
    ",type:str]",
    "<path:",
    "ref+vault://",
    "ref+sops://",
    "#/",
    " | base64decode",
    " | jsonParse",
    " | yamlParse",
    " | indent 2",
    " | jsonPath {.a}",
    "sops:",
    "mac: ",
    "lastmodified: ",
    "items:",
    "functionConfig:",
    "kind: ResourceList",
    "\u{feff}",
    "\r\n",
    "%",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => v.truncate(at),
            3 if !v.is_empty() => {
                // duplicate a slice (repeats structures: nesting, anchors, documents)
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(64)).min(v.len());
                let piece = v[start..end].to_vec();
                v.splice(at..at, piece);
            }
            _ => {
                let t = DICT[rng.below(DICT.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
        }
    }
    v
}

fn mutations() -> usize {
    std::env::var("SEALBRIDGE_FUZZ_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// Runs `target` on every seed and on `mutations()` mutants of each; a panic names the input
/// (saved under `fuzz/artifacts/` for `cargo fuzz run TARGET FILE`).
fn run_corpus(name: &str, dirs: &[&str], target: fn(&[u8])) {
    let corpus = seeds(dirs);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (path, seed) in &corpus {
        let mut inputs = vec![seed.clone()];
        for _ in 0..mutations() {
            inputs.push(mutate(seed, &mut rng));
        }
        for input in inputs {
            let result = std::panic::catch_unwind(|| target(&input));
            if result.is_err() {
                let dir = root().join("fuzz/artifacts").join(name);
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!(
                    "crash-from-{}",
                    path.file_name().unwrap().to_string_lossy()
                ));
                let _ = std::fs::write(&file, &input);
                panic!(
                    "{name} panicked on a mutant of {} (saved as {})",
                    path.display(),
                    file.display()
                );
            }
        }
    }
}

#[test]
fn placeholder_corpus() {
    run_corpus(
        "placeholder",
        &["tests/fixtures/render", "docs/placeholders.md", "examples"],
        super::placeholder,
    );
}

#[test]
fn yaml_roundtrip_corpus() {
    run_corpus(
        "yaml_roundtrip",
        &["tests/fixtures/yaml", "tests/fixtures/render", "examples"],
        super::yaml_roundtrip,
    );
}

#[test]
fn sops_decrypt_corpus() {
    run_corpus(
        "sops_decrypt",
        &["tests/fixtures/sops"],
        super::sops_decrypt,
    );
}

#[test]
fn sops_value_corpus() {
    run_corpus("sops_value", &["tests/fixtures/sops"], super::sops_value);
}

#[test]
fn krm_resource_list_corpus() {
    run_corpus(
        "krm_resource_list",
        &[
            "examples/kustomize",
            "examples/kpt",
            "tests/fixtures/render",
        ],
        super::krm_resource_list,
    );
}

#[test]
fn the_fixture_key_decrypts_the_fixtures() {
    // Guards the corpus: if the key did not match, sops_decrypt would only test failures.
    let file = std::fs::read(root().join("tests/fixtures/sops/basic.enc.yaml")).unwrap();
    let d =
        sealbridge::sops::decrypt_bytes(&file, sealbridge::sops::Format::Yaml, super::fixed_keys());
    assert!(d.is_ok(), "{:?}", d.err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn placeholder_random(s in "(<path:|ref\\+vault://|ref\\+sops://|[a-z/#{}|<>\"' .0-9]|\\| ?(base64decode|jsonParse|yamlParse|indent 2|jsonPath \\{\\.a\\}|default \"x\"))*") {
        super::placeholder(s.as_bytes());
    }

    #[test]
    fn yaml_random(s in "([a-z0-9]{0,4}|: |- |\n|  |\"|'|\\||>|#|&a|\\*a|\\{|\\}|\\[|\\]|,|---\n|!!str |\\? )*") {
        super::yaml_roundtrip(s.as_bytes());
    }

    #[test]
    fn sops_value_random(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        super::sops_value(&b);
    }
}

/// `SEALBRIDGE_FUZZ_REPLAY=TARGET:FILE cargo test --manifest-path fuzz/Cargo.toml replay --
/// --nocapture` runs one target on one input (a crash file from `fuzz/artifacts/`).
#[test]
fn replay() {
    let Ok(spec) = std::env::var("SEALBRIDGE_FUZZ_REPLAY") else {
        return;
    };
    let (target, file) = spec.split_once(':').unwrap();
    let input = std::fs::read(file).unwrap();
    match target {
        "placeholder" => super::placeholder(&input),
        "yaml_roundtrip" => super::yaml_roundtrip(&input),
        "sops_decrypt" => super::sops_decrypt(&input),
        "sops_value" => super::sops_value(&input),
        "krm_resource_list" => super::krm_resource_list(&input),
        other => panic!("unknown target {other}"),
    }
}

/// The emitter bugs the yaml target found (fixed on wt/yaml2; regression tests).
#[test]
fn known_folded_issue() {
    let docs = sealbridge::yaml::parse_stream("a: >\n  x\n    y\n").unwrap();
    let out = sealbridge::yaml::emit_manifest(&docs);
    let back = sealbridge::yaml::parse_stream(&out).unwrap();
    assert_eq!(
        back[0].root.get("a").unwrap().as_str(),
        Some("x\n  y\n"),
        "{}",
        &*out
    );
}

#[test]
fn known_root_dashes_issue() {
    let docs = sealbridge::yaml::parse_stream("  ---\n").unwrap();
    let out = sealbridge::yaml::emit_manifest(&docs);
    let back = sealbridge::yaml::parse_stream(&out).unwrap();
    assert_eq!(back.len(), 1, "{}", &*out);
    assert_eq!(back[0].root.as_str(), Some("---"), "{}", &*out);
}

#[test]
fn known_tagged_collection_comment_issue() {
    let docs = sealbridge::yaml::parse_stream("e:\n  !foo # c\n  - 2\n").unwrap();
    let out = sealbridge::yaml::emit_manifest(&docs);
    assert!(sealbridge::yaml::parse_stream(&out).is_ok(), "{}", &*out);
}

#[test]
fn known_empty_tagged_key_issue() {
    let docs = sealbridge::yaml::parse_stream("? !!str\n").unwrap();
    let out = sealbridge::yaml::emit_manifest(&docs);
    let back = sealbridge::yaml::parse_stream(&out).unwrap();
    assert!(back[0].root.is_mapping(), "{}", &*out);
}
