//! The TOML schema as `serde` reads it, before any check: every field that a
//! later check may complain about keeps its span so the message can name its line.
//!
//! Numbers are read as `i64` (TOML's integer type) and sizes as raw values so
//! that a value out of range gets a sentence saying the range, rather than a
//! type error.

use serde::Deserialize;
use toml::Spanned;

use crate::system::{Corruption, Ending};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub board: Spanned<RawBoard>,
    #[serde(default)]
    pub partition: Vec<Spanned<RawPartition>>,
    pub test: Option<Spanned<RawTest>>,
}

/// `[board]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBoard {
    pub name: Spanned<String>,
    pub cpus: Option<Spanned<i64>>,
    pub memory: Option<Spanned<toml::Value>>,
    pub gic: Option<Spanned<i64>>,
}

/// `kind = "guest" | "service"`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawKind {
    Guest,
    Service,
}

/// `restart = "never" | "on-crash" | "always"`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawRestart {
    Never,
    OnCrash,
    Always,
}

/// `[[partition]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPartition {
    pub name: Spanned<String>,
    pub kind: RawKind,
    pub program: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub bootargs: Option<Spanned<String>>,
    pub restart: RawRestart,
    pub max_restarts: Option<Spanned<i64>>,
    pub restart_window: Option<Spanned<String>>,
    #[serde(default)]
    pub pmu: bool,
    #[serde(default)]
    pub vcpu: Vec<Spanned<RawVcpu>>,
    #[serde(default)]
    pub memory: Vec<Spanned<RawRegion>>,
}

/// `[[partition.vcpu]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVcpu {
    pub cpu: Spanned<i64>,
    pub priority: Option<Spanned<i64>>,
}

/// `[[partition.memory]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegion {
    pub ipa: Spanned<i64>,
    pub size: Spanned<toml::Value>,
    pub perms: Option<Spanned<String>>,
}

/// `[test]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTest {
    pub timeout: Option<Spanned<i64>>,
    #[serde(default)]
    pub expect: Vec<Spanned<String>>,
    #[serde(default)]
    pub contains: Vec<Spanned<String>>,
    #[serde(default)]
    pub forbid: Vec<Spanned<String>>,
    pub corrupt: Option<Corruption>,
    #[serde(default)]
    pub ends: Ending,
    pub el2: Option<bool>,
}
