//! The built-in floor of Vault paths a reference may read, whatever the settings or tenancy
//! policy say: never Vault's own system, auth, identity, cubbyhole or token-store paths.
//!
//! A reference is repository content; the client reads it with the sidecar's (or tenant's)
//! token. Without this rule `<path:auth/token/lookup-self#id>` renders the token itself, and
//! `sys/…`, `identity/…` or `cubbyhole/…` reads expose configuration or the token's private
//! storage. Only the response's `data` is ever used (never `auth` or `wrap_info`).
//!
//! The rule, checked on the path as the client will request it (prefix applied, `/`
//! normalised, `.`/`..` refused by `http::path_segments`):
//! 1. a first segment naming a system area (case-insensitive) is refused before any request;
//! 2. a system name as any *other non-last* segment is refused, because OpenBao namespaces
//!    are addressed by leading path segments (`team/sys/…`, `team/auth/token/lookup-self`),
//!    unless the mount lookup proved the path lands in a KV mount (then later segments are
//!    secret names, e.g. `secret/data/app/token/db`);
//! 3. a mount whose type is a system one (`system`, `identity`, `cubbyhole`, `token`, and
//!    their `ns_` forms) is refused.
//!
//! The last segment may be a system name (`secret/app/token` is an ordinary secret): no
//! system endpoint that returns a secret is addressed by one segment below a namespace.

/// The first path segments (and namespace-relative segments) of Vault's own areas.
const SYSTEM: &[&str] = &["sys", "auth", "identity", "cubbyhole", "token"];

/// Mount types (as the mount lookup reports them) that are Vault's own areas.
const SYSTEM_TYPES: &[&str] = &[
    "system",
    "identity",
    "cubbyhole",
    "token",
    "ns_system",
    "ns_identity",
    "ns_cubbyhole",
    "ns_token",
];

fn is_system(segment: &str) -> bool {
    SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(segment))
}

/// Why `segments` (the normalised request path) may not be requested before anything is
/// known of its mount, or `None`.
pub(crate) fn refusal_before_lookup(segments: &[&str]) -> Option<String> {
    let first = segments.first()?;
    if is_system(first) {
        return Some(format!(
            "`{first}/` is Vault's own {} area, not a secrets engine: references may not read it \
             (it could return the sidecar's token or configuration)",
            first.to_ascii_lowercase()
        ));
    }
    None
}

/// Why `segments` may not be requested given what the mount lookup said (`kv`: the path lands
/// in a KV mount; `mount_type`: the engine type if known), or `None`.
pub(crate) fn refusal_after_lookup(
    segments: &[&str],
    kv: bool,
    mount_type: Option<&str>,
) -> Option<String> {
    if let Some(why) = refusal_before_lookup(segments) {
        return Some(why);
    }
    if let Some(t) = mount_type
        && SYSTEM_TYPES.iter().any(|s| s.eq_ignore_ascii_case(t))
    {
        return Some(format!(
            "the path lands in a `{t}` mount, Vault's own area, not a secrets engine"
        ));
    }
    if kv {
        return None;
    }
    let inner = &segments[..segments.len().saturating_sub(1)];
    inner.iter().skip(1).find(|s| is_system(s)).map(|s| {
        format!(
            "`{s}` inside the path could address Vault's own {} area of a namespace \
             (`<namespace>/{s}/…`), and the mount lookup did not show a KV mount",
            s.to_ascii_lowercase()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<&str> {
        p.split('/').filter(|s| !s.is_empty()).collect()
    }

    #[test]
    fn system_areas_are_refused_in_every_spelling() {
        for p in [
            "auth/token/lookup-self",
            "/auth//token/lookup-self/",
            "SYS/wrapping/lookup",
            "Sys/internal/ui/mounts",
            "identity/entity/id",
            "cubbyhole/x",
            "token/lookup-self",
        ] {
            assert!(refusal_before_lookup(&segs(p)).is_some(), "{p}");
            assert!(refusal_after_lookup(&segs(p), true, None).is_some(), "{p}");
        }
    }

    #[test]
    fn namespace_forms_are_refused_unless_the_mount_is_kv() {
        for p in ["team/auth/token/lookup-self", "a/b/sys/config/cors"] {
            assert!(refusal_before_lookup(&segs(p)).is_none(), "{p}");
            assert!(refusal_after_lookup(&segs(p), false, None).is_some(), "{p}");
            assert!(
                refusal_after_lookup(&segs(p), false, Some("kv")).is_some(),
                "{p}"
            );
        }
        // In a KV mount the names are secret names.
        assert!(refusal_after_lookup(&segs("secret/data/app/token/db"), true, None).is_none());
        // The last segment may be a system name.
        assert!(refusal_after_lookup(&segs("secret/app/token"), false, None).is_none());
        assert!(refusal_after_lookup(&segs("kv/auth"), false, None).is_none());
    }

    #[test]
    fn system_mount_types_are_refused() {
        for t in ["system", "token", "ns_cubbyhole", "Identity"] {
            assert!(
                refusal_after_lookup(&segs("x/y"), false, Some(t)).is_some(),
                "{t}"
            );
        }
        assert!(refusal_after_lookup(&segs("db/creds/ro"), false, Some("database")).is_none());
    }
}
