//! `sealbridge refresh`: hard-refresh the Argo CD Applications whose secrets changed since
//! their objects were rendered (`crate::cluster::refresh`; the `kube` feature).

#[cfg(feature = "kube")]
use std::time::Duration;

use crate::error::{Error, Result};
use crate::settings::Flags;

/// Arguments of `refresh`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  sealbridge refresh --namespace argocd\n  \
sealbridge refresh --selector team=payments --dry-run\n  \
sealbridge refresh --watch --interval 5m --jitter 1m\n\n\
Needs SEALBRIDGE_RECORD_VERSIONS=true in the plugin sidecar (objects rendered without it \
record nothing and are never refreshed), the Vault settings of render with a token that may \
read the KV metadata, and a Kubernetes service account with the RBAC of \
plugins/argocd/refresh. Exit 0: every Application was checked; 1: some could not be (the \
reasons are printed); 2: usage or configuration.")]
pub struct RefreshArgs {
    /// The Applications' namespace.
    #[arg(long, short = 'n', value_name = "NAMESPACE", default_value = "argocd")]
    pub namespace: String,
    /// The Applications of every namespace (Argo CD's Applications in any namespace; the
    /// refresher then needs a ClusterRole for them).
    #[arg(long, short = 'A', conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Only the Applications with these labels (a Kubernetes label selector).
    #[arg(long, short = 'l', value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// The kinds of managed objects whose records are read (comma-separated; `*`: every kind,
    /// which needs `get` on every kind).
    #[arg(
        long,
        value_name = "KINDS",
        default_value = "Secret,ConfigMap,Deployment,StatefulSet,DaemonSet,CronJob,Job"
    )]
    pub kinds: String,
    /// Print what would be refreshed; patch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep checking: a cycle every --interval (plus a random part of --jitter).
    #[arg(long)]
    pub watch: bool,
    /// Time between cycles with --watch (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub interval: String,
    /// Up to this much random time added to each wait (default: a tenth of --interval), so
    /// many refreshers do not hit Vault at once.
    #[arg(long, value_name = "DURATION")]
    pub jitter: Option<String>,
    /// Stop after this many cycles (default: 1 without --watch, unbounded with it).
    #[arg(long, value_name = "N")]
    pub cycles: Option<u64>,
    /// `text` (default) or `json` (one JSON object per cycle, on one line).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
}

#[cfg(feature = "kube")]
fn duration(flag: &str, v: &str) -> Result<Duration> {
    crate::settings::parse_duration(v)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::Usage(format!("{flag} {v:?}: not a duration (e.g. 30s, 5m)")))
}

/// Runs `refresh`.
#[cfg(not(feature = "kube"))]
pub(crate) fn run(_args: RefreshArgs, _flags: &Flags) -> Result<()> {
    Err(Error::Usage(
        "refresh talks to the Kubernetes API: this sealbridge was built without the `kube` \
         feature (cargo build --features kube)"
            .to_owned(),
    ))
}

/// Runs `refresh`.
#[cfg(feature = "kube")]
pub(super) fn run(args: RefreshArgs, flags: &Flags) -> Result<()> {
    use crate::cluster::refresh::{Outcome, RefreshOptions, Refresher};
    use crate::resolve::RenderOptions;
    use crate::settings::Settings;
    use rand::Rng as _;

    if args.format != "text" && args.format != "json" {
        return Err(Error::Usage(format!(
            "--format {:?}: use text or json",
            args.format
        )));
    }
    let interval = duration("--interval", &args.interval)?;
    let jitter = match &args.jitter {
        Some(j) => duration("--jitter", j)?,
        None => interval / 10,
    };
    if args.cycles == Some(0) {
        return Err(Error::Usage("--cycles must be at least 1".to_owned()));
    }
    let cycles = args.cycles.or((!args.watch).then_some(1));
    let kinds = match args.kinds.trim() {
        "*" => Default::default(),
        k => k
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
    };

    let settings = Settings::load(flags)?;
    if settings.path_prefix.is_some() {
        return Err(Error::Usage(
            "refresh reads the paths objects recorded, which already hold \
             SEALBRIDGE_PATH_PREFIX: unset it for refresh"
                .to_owned(),
        ));
    }
    // The refresher's own Vault login (never a tenant's): metadata reads of recorded paths.
    let render = RenderOptions {
        concurrency: settings.concurrency.max(1),
        deadline: settings.deadline,
        max_output: settings.max_output,
        fingerprint_key: crate::context::fingerprint_key(false)?,
        ..RenderOptions::default()
    };
    let opts = RefreshOptions {
        namespace: (!args.all_namespaces).then(|| args.namespace.clone()),
        selector: args.selector.clone(),
        kinds,
        dry_run: args.dry_run,
        timeout: crate::cluster::DEFAULT_TIMEOUT.min(settings.deadline),
        concurrency: settings.concurrency.max(1),
    };
    let rt = crate::runtime::get().map_err(Error::Refused)?;
    // The refresher's own login (never a tenant's), one client for every cycle.
    let ctx = crate::context::Context::operator(settings);
    let env = crate::cluster::ClusterEnv::from_process();
    let refresher = rt
        .block_on(Refresher::connect(&env, opts))
        .map_err(|e| Error::Usage(format!("refresh: {e}")))?;

    let mut stop_signals: Vec<tokio::signal::unix::Signal> = if args.watch {
        let _in_rt = rt.enter();
        [
            tokio::signal::unix::SignalKind::terminate(),
            tokio::signal::unix::SignalKind::interrupt(),
        ]
        .into_iter()
        .filter_map(|k| tokio::signal::unix::signal(k).ok())
        .collect()
    } else {
        Vec::new()
    };
    let mut done = 0u64;
    let mut failed;
    loop {
        // A new Vault backend per cycle: a server that was down in one cycle is tried again.
        let backends = ctx.backends(&render);
        let result = rt.block_on(refresher.cycle(&backends, &render));
        done += 1;
        let mut out = String::new();
        match &result {
            Ok(report) => {
                if args.format == "json" {
                    out = serde_json::to_string(report)
                        .map_err(|e| Error::Refused(format!("cannot write JSON: {e}")))?;
                    out.push('\n');
                } else {
                    for a in &report.applications {
                        let what = match a.outcome {
                            Outcome::Refreshed => "refreshed",
                            Outcome::WouldRefresh => "would refresh",
                            Outcome::Pending => "refresh pending",
                            Outcome::Unchecked => "NOT CHECKED",
                            Outcome::UpToDate | Outcome::NotRecorded => continue,
                        };
                        out.push_str(&format!("{}: {what}", a.application));
                        if !a.stale.is_empty() {
                            out.push_str(&format!(" (changed secrets: {})", a.stale.join(", ")));
                        }
                        out.push('\n');
                        for p in &a.problems {
                            out.push_str(&format!("    {p}\n"));
                        }
                    }
                    let count = |o: Outcome| {
                        report
                            .applications
                            .iter()
                            .filter(|a| a.outcome == o)
                            .count()
                    };
                    out.push_str(&format!(
                        "{} application(s): {} refreshed, {} up to date, {} pending, {} \
                         without records, {} not checked; {} recorded object(s), {} secret(s) \
                         read\n",
                        report.applications.len(),
                        count(Outcome::Refreshed) + count(Outcome::WouldRefresh),
                        count(Outcome::UpToDate),
                        count(Outcome::Pending),
                        count(Outcome::NotRecorded),
                        count(Outcome::Unchecked),
                        report.recorded_objects,
                        report.secrets,
                    ));
                }
                failed = report.problems() > 0;
            }
            Err(e) => {
                failed = true;
                tracing::error!("refresh: {e}");
                if !args.watch {
                    return Err(Error::Refused(format!("refresh: {e}")));
                }
            }
        }
        super::write_stdout(out.as_bytes())?;
        if cycles.is_some_and(|n| done >= n) {
            break;
        }
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_millis(rand::thread_rng().gen_range(0..=jitter.as_millis() as u64))
        };
        // SIGTERM/SIGINT (a Deployment being stopped) end the watch between cycles: one that
        // arrives during a cycle is kept by the streams and ends the wait at once.
        let stop = rt.block_on(async {
            tokio::select! {
                _ = tokio::time::sleep(interval + extra) => false,
                _ = next_signal(&mut stop_signals) => true,
            }
        });
        if stop {
            tracing::info!("refresh: stopped by a signal between cycles");
            break;
        }
    }
    if failed {
        return Err(Error::Refused(
            "some Applications could not be checked (see above)".to_owned(),
        ));
    }
    Ok(())
}

/// The next of `signals` to arrive (never, without any).
#[cfg(feature = "kube")]
async fn next_signal(signals: &mut [tokio::signal::unix::Signal]) {
    if signals.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for s in signals.iter_mut() {
            if s.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}
