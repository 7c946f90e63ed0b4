//! `sealbridge krm` (KRM function), the legacy kustomize exec-plugin form
//! (`sealbridge CONFIG-FILE`), and the busybox-style names `ksops` / `SecretGenerator`.
//!
//! How the mode is chosen (mirrors ksops, so ksops users switch by replacing one file):
//! - argv[0] named `ksops` or `SecretGenerator` (a symlink in a kustomize plugin home or in
//!   PATH): no arguments and stdin not a terminal → KRM function; one argument → legacy exec
//!   plugin with that configuration file;
//! - argv[0] anything else (`sealbridge`): `sealbridge krm` → KRM function; no arguments with
//!   stdin not a terminal → KRM function; exactly one argument that is an existing file and not
//!   a command name → legacy exec plugin;
//! - otherwise the normal command line.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use zeroize::Zeroizing;

use crate::context::Context;
use crate::error::{Error, ExitStatus, Result};
use crate::krm::{KrmError, config, generate, paths::Root};
use crate::settings::Flags;
use crate::yaml::Document;

/// Arguments of `krm`.
#[derive(Debug, clap::Args)]
pub struct KrmArgs {}

/// Program names under which the binary acts as a kustomize plugin.
pub const PLUGIN_NAMES: &[&str] = &["ksops", "SecretGenerator"];

/// The mode argv selects, if it is one of the plugin forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginMode {
    /// Read a ResourceList on stdin.
    Krm,
    /// Legacy exec plugin: generate from this configuration file.
    Legacy(PathBuf),
    /// Invoked under a plugin name with arguments it does not understand.
    Usage(String),
}

/// Decides the mode from argv (and whether stdin is a terminal-like character device).
/// `commands` are the names of the normal subcommands.
pub fn plugin_mode(
    args: &[OsString],
    stdin_is_char_device: bool,
    commands: &[String],
) -> Option<PluginMode> {
    let prog = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest = args.get(1..).unwrap_or(&[]);
    if PLUGIN_NAMES.contains(&prog.as_str()) {
        return Some(match rest {
            [] if !stdin_is_char_device => PluginMode::Krm,
            [] => PluginMode::Usage(format!(
                "{prog}: no ResourceList on stdin and no configuration file. Usage:\n  \
                 {prog} GENERATOR.yaml          (kustomize legacy exec plugin)\n  \
                 {prog} < resource-list.yaml     (KRM function)"
            )),
            [config] => PluginMode::Legacy(PathBuf::from(config)),
            _ => PluginMode::Usage(format!(
                "{prog}: expected exactly one argument, the generator configuration file \
                 (remove argsOneLiner/argsFromFile from the configuration)"
            )),
        });
    }
    match rest {
        [] if !stdin_is_char_device => Some(PluginMode::Krm),
        [one] => {
            let s = one.to_string_lossy();
            let is_command = commands.iter().any(|c| *c == s) || s == "help";
            if !is_command && !s.starts_with('-') && Path::new(one).is_file() {
                Some(PluginMode::Legacy(PathBuf::from(one)))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// True when stdin is a character device (a terminal, or `/dev/null`): ksops' test for
/// "nothing piped in".
pub fn stdin_is_char_device() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return true;
    };
    std::fs::File::from(fd)
        .metadata()
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(true)
}

/// Runs a plugin mode and maps the outcome to an exit code.
pub fn run_mode(mode: PluginMode) -> ExitCode {
    let result = match mode {
        PluginMode::Krm => run_krm(&Flags::default()),
        PluginMode::Legacy(config) => run_legacy(&config),
        PluginMode::Usage(msg) => Err(Error::Usage(msg)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            super::report(&e);
            ExitCode::from(e.exit_status() as u8)
        }
    }
}

/// `sealbridge krm` (`flags`: the command line's settings flags, e.g. `--settings FILE`).
pub fn run(_args: KrmArgs, flags: &Flags) -> Result<()> {
    run_krm(flags)
}

fn run_krm(flags: &Flags) -> Result<()> {
    super::install_crypto_provider();
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| Error::io("<stdin>", e))?;
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let ctx = Context::load(flags)?;
    super::arm_deadline(ctx.settings().deadline);
    let sops = crate::krm::sops_source::Sops::new(ctx.sops_options());
    let transformer =
        |docs: &mut [Document], dir: &Path| crate::krm::transform::transform(&ctx, docs, dir);
    let outcome = crate::krm::function::process(&input, &cwd, &sops, &transformer);
    // The ResourceList is written in every case: on failure it has no items, only `results`.
    super::write_stdout(outcome.output.as_bytes())?;
    match outcome.error {
        None => Ok(()),
        Some(e) => Err(e.into()),
    }
}

/// The legacy exec plugin: `argv[1]` is the configuration (kustomize writes it to a temporary
/// file); paths are relative to `KUSTOMIZE_PLUGIN_CONFIG_ROOT` (the kustomization directory,
/// also kustomize's cwd for the plugin), else the current directory.
fn run_legacy(config_path: &Path) -> Result<()> {
    super::install_crypto_provider();
    let text = std::fs::read_to_string(config_path).map_err(|e| Error::io(config_path, e))?;
    let origin = config_origin(config_path, &text);
    let cfg = config::from_yaml_text(&text, &origin)?;
    let root_dir = match std::env::var_os("KUSTOMIZE_PLUGIN_CONFIG_ROOT") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::current_dir().map_err(|e| Error::io(".", e))?,
    };
    let root = Root::new(&root_dir)?;
    let ctx = Context::load(&Flags::default())?;
    super::arm_deadline(ctx.settings().deadline);
    let sops = crate::krm::sops_source::Sops::new(ctx.sops_options());
    let generated = generate::generate(&cfg, &root, &sops, &origin)?;
    if generated.is_empty() {
        return Err(KrmError::Config(format!(
            "{origin}: the configuration generates no objects (ksops#217: an empty result would \
             silently drop Secrets); list at least one file"
        ))
        .into());
    }
    let mut out = Zeroizing::new(String::new());
    generate::write_stream(&generated, &mut out)?;
    super::write_stdout(out.as_bytes())
}

/// A name for messages: kustomize passes a random temporary file, so prefer the
/// configuration's own `kind/name`.
fn config_origin(path: &Path, text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        kind: String,
        #[serde(default)]
        metadata: Option<Meta>,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(default)]
        name: String,
    }
    match serde_saphyr::from_str::<Head>(text) {
        Ok(Head {
            kind,
            metadata: Some(Meta { name }),
        }) if !kind.is_empty() && !name.is_empty() => {
            format!("{kind}/{name}")
        }
        _ => path.display().to_string(),
    }
}

/// Exit status helper for callers that map errors themselves.
pub fn exit_code(status: ExitStatus) -> ExitCode {
    ExitCode::from(status as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn cmds() -> Vec<String> {
        vec!["render".into(), "krm".into(), "version".into()]
    }

    #[test]
    fn busybox_names() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("gen.yaml");
        std::fs::write(&cfg, "x").unwrap();
        let cfg_s = cfg.to_str().unwrap();
        for prog in [
            "ksops",
            "/home/u/.config/kustomize/plugin/viaduct.ai/v1/ksops/ksops",
            "SecretGenerator",
        ] {
            assert_eq!(
                plugin_mode(&argv(&[prog]), false, &cmds()),
                Some(PluginMode::Krm)
            );
            assert!(matches!(
                plugin_mode(&argv(&[prog]), true, &cmds()),
                Some(PluginMode::Usage(_))
            ));
            assert_eq!(
                plugin_mode(&argv(&[prog, cfg_s]), true, &cmds()),
                Some(PluginMode::Legacy(cfg.clone()))
            );
            assert!(matches!(
                plugin_mode(&argv(&[prog, cfg_s, "--flag"]), true, &cmds()),
                Some(PluginMode::Usage(_))
            ));
        }
    }

    #[test]
    fn sealbridge_name() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("gen.yaml");
        std::fs::write(&cfg, "x").unwrap();
        let cfg_s = cfg.to_str().unwrap();
        assert_eq!(
            plugin_mode(&argv(&["sealbridge"]), false, &cmds()),
            Some(PluginMode::Krm)
        );
        assert_eq!(plugin_mode(&argv(&["sealbridge"]), true, &cmds()), None);
        assert_eq!(
            plugin_mode(&argv(&["sealbridge", cfg_s]), true, &cmds()),
            Some(PluginMode::Legacy(cfg.clone()))
        );
        // Commands, flags and missing files go to the normal command line.
        assert_eq!(
            plugin_mode(&argv(&["sealbridge", "version"]), false, &cmds()),
            None
        );
        assert_eq!(
            plugin_mode(&argv(&["sealbridge", "--help"]), false, &cmds()),
            None
        );
        assert_eq!(
            plugin_mode(&argv(&["sealbridge", "nope.yaml"]), false, &cmds()),
            None
        );
        assert_eq!(
            plugin_mode(&argv(&["sealbridge", "render", "-"]), false, &cmds()),
            None
        );
    }

    #[test]
    fn origin_prefers_kind_and_name() {
        assert_eq!(
            config_origin(
                Path::new("/tmp/kust-plugin-config-1"),
                "kind: ksops\nmetadata:\n  name: gen\n"
            ),
            "ksops/gen"
        );
        assert_eq!(config_origin(Path::new("/tmp/x"), "[1"), "/tmp/x");
    }
}
