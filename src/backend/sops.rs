//! sops files as a backend (placeholder until the sops module lands).
