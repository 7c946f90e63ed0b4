//! `sealbridge version`.

use crate::error::Result;

/// Prints version, git commit and enabled cargo features.
pub(super) fn run() -> Result<()> {
    let mut features: Vec<&str> = Vec::new();
    if cfg!(feature = "kube") {
        features.push("kube");
    }
    let text = format!(
        "sealbridge {}\ncommit: {}\nfeatures: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("SEALBRIDGE_GIT_COMMIT"),
        if features.is_empty() {
            "(none)".to_string()
        } else {
            features.join(", ")
        }
    );
    super::write_stdout(text.as_bytes())
}
