//! The TOML schema as `serde` reads it, before any check: every field that a
//! later check may complain about keeps its span so the message can name its line.
//!
//! Numbers are read as `i64` (TOML's integer type) and sizes as raw values so
//! that a value out of range gets a sentence saying the range, rather than a
//! type error.

use serde::Deserialize;
use toml::Spanned;

use crate::system::{Corruption, DeviceKind, Ending};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub board: Spanned<RawBoard>,
    #[serde(default)]
    pub partition: Vec<Spanned<RawPartition>>,
    #[serde(default)]
    pub endpoint: Vec<Spanned<RawEndpoint>>,
    #[serde(default)]
    pub notification: Vec<Spanned<RawNotification>>,
    #[serde(default)]
    pub shared: Vec<Spanned<RawShared>>,
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
    pub initrd: Option<Spanned<String>>,
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
    pub supervisor: Option<Spanned<bool>>,
    #[serde(default)]
    pub cap: Vec<Spanned<RawCap>>,
    #[serde(default)]
    pub device: Vec<Spanned<RawDevice>>,
    #[serde(default)]
    pub passthrough: Vec<Spanned<RawPassthrough>>,
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

/// `[[partition.cap]]`: exactly one of `endpoint`, `notification`, `partition`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCap {
    pub slot: Spanned<i64>,
    pub endpoint: Option<Spanned<String>>,
    pub notification: Option<Spanned<String>>,
    pub partition: Option<Spanned<String>>,
    pub rights: Spanned<Vec<Spanned<String>>>,
    pub badge: Option<Spanned<i64>>,
}

/// `[[partition.device]]`: an emulated device window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDevice {
    pub kind: DeviceKind,
    pub ipa: Spanned<i64>,
    pub size: Spanned<toml::Value>,
    pub irq: Option<Spanned<i64>>,
    pub endpoint: Spanned<String>,
    pub badge: Option<Spanned<i64>>,
}

/// `[[partition.passthrough]]`: physical MMIO mapped into the partition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPassthrough {
    #[serde(default)]
    pub kind: DeviceKind,
    pub pa: Spanned<i64>,
    pub ipa: Spanned<i64>,
    pub size: Spanned<toml::Value>,
    pub irq: Option<Spanned<i64>>,
}

/// `[[endpoint]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoint {
    pub name: Spanned<String>,
    pub server: Spanned<String>,
}

/// `[[notification]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotification {
    pub name: Spanned<String>,
    pub irq: Option<Spanned<i64>>,
    pub virq: Option<Spanned<RawVirq>>,
    pub faults: Option<Spanned<bool>>,
}

/// `virq = { partition = "...", irq = N }` of a notification.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVirq {
    pub partition: Spanned<String>,
    pub irq: Spanned<i64>,
}

/// `[[shared]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShared {
    pub name: Spanned<String>,
    pub size: Spanned<toml::Value>,
    #[serde(default)]
    pub map: Vec<Spanned<RawSharedMap>>,
}

/// `[[shared.map]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSharedMap {
    pub partition: Spanned<String>,
    pub ipa: Spanned<i64>,
    pub perms: Spanned<String>,
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
    pub gic_versions: Option<Spanned<Vec<Spanned<i64>>>>,
}
