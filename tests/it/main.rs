//! The one integration-test binary: every area is a module here, so the graph links once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Helpers are `pub` across the test modules of this one binary.
#![allow(unreachable_pub)]

mod support;

mod check;
mod ci_recipes;
mod cli;
#[cfg(feature = "kube")]
mod cluster;
mod cmp;
mod cmp_helm;
mod helm;
mod kpt;
mod kustomize;
mod layers;
mod leaks;
mod render;
mod render_sops;
mod render_stream;
mod rotation;
mod smoke;
mod sops;
mod sops_cli;
mod sops_edit;
mod sops_kms;
mod sops_parity;
mod sops_pgp;
mod sops_ssh;
mod sops_vault;
mod tenancy;
mod vault;
mod vault_auth;
mod vault_cache;
mod vault_retry;
mod vault_tls;
mod yaml11;
