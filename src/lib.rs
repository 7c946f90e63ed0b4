//! sealbridge: keep only references and ciphertext in Git.
//!
//! At sync time sealbridge resolves secret references in rendered Kubernetes manifests from
//! HashiCorp Vault / OpenBao or from sops-encrypted files, and prints plaintext only on its way
//! to the cluster. The library is one engine (read → scan → plan → fetch → substitute → write,
//! see `docs/design.md`) behind thin front-ends: the CLI, the Argo CD plugin and the KRM
//! function.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backend;
pub mod check;
pub mod cli;
#[cfg(feature = "kube")]
pub mod cluster;
pub mod cmp;
pub mod context;
pub mod deadline;
pub mod error;
pub mod exit;
pub mod krm;
pub mod kustomize;
pub mod manifest;
pub mod placeholder;
pub mod policy;
pub mod resolve;
pub mod rotation;
pub mod runtime;
pub mod secret;
pub mod settings;
pub mod sops;
pub mod suggest;
pub mod supervise;
pub mod yaml;

pub use error::{Error, Result};
