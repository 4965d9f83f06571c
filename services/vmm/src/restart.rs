//! Restart rules: a partition's policy from the configuration, and the sliding
//! window of its recent restarts that `on-crash` counts against.

pub use kernel_core::manifest::RestartPolicy;

pub use kernel_core::restart::{LimitReached, RestartWindow, MAX_RESTARTS_IN_WINDOW};

/// How a partition is restarted, as the configuration says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartRule {
    /// The policy.
    pub policy: RestartPolicy,
    /// With `OnCrash`: most restarts inside `window_ms` (0 otherwise).
    pub max_restarts: u32,
    /// With `OnCrash`: the window in milliseconds (0 otherwise).
    pub window_ms: u64,
}

impl RestartRule {
    /// Stay stopped after a fault.
    pub const NEVER: Self = Self {
        policy: RestartPolicy::Never,
        max_restarts: 0,
        window_ms: 0,
    };

    /// Restart after a fault and after a power-off.
    pub const ALWAYS: Self = Self {
        policy: RestartPolicy::Always,
        max_restarts: 0,
        window_ms: 0,
    };
}

impl Default for RestartRule {
    fn default() -> Self {
        Self::NEVER
    }
}

/// The policy named in the boot arguments: `never`, `on-crash` or `always`
/// (the spelling of the configuration file).
pub fn parse_policy(text: &str) -> Option<RestartPolicy> {
    match text {
        "never" => Some(RestartPolicy::Never),
        "on-crash" => Some(RestartPolicy::OnCrash),
        "always" => Some(RestartPolicy::Always),
        _ => None,
    }
}

/// The configuration's spelling of `policy`, for messages.
pub fn policy_name(policy: RestartPolicy) -> &'static str {
    match policy {
        RestartPolicy::Never => "never",
        RestartPolicy::OnCrash => "on-crash",
        RestartPolicy::Always => "always",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_in_the_config_spelling() {
        for policy in [
            RestartPolicy::Never,
            RestartPolicy::OnCrash,
            RestartPolicy::Always,
        ] {
            assert_eq!(parse_policy(policy_name(policy)), Some(policy));
        }
        assert_eq!(parse_policy("on_crash"), None);
        assert_eq!(parse_policy("Always"), None);
        assert_eq!(parse_policy(""), None);
    }

    #[test]
    fn default_rule_is_never() {
        assert_eq!(RestartRule::default(), RestartRule::NEVER);
        assert_eq!(RestartRule::ALWAYS.policy, RestartPolicy::Always);
    }
}
