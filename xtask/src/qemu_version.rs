//! QEMU version numbers: parsing `qemu-system-aarch64 --version` and comparing
//! against what a machine model needs.

use std::fmt;

/// A QEMU release number, ordered as releases are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QemuVersion {
    /// Major release.
    pub major: u32,
    /// Minor release.
    pub minor: u32,
    /// Micro (bug-fix) release.
    pub micro: u32,
}

impl QemuVersion {
    /// `major.minor.0`.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self {
            major,
            minor,
            micro: 0,
        }
    }

    /// Reads the version from the first line of `--version` output, e.g.
    /// `QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2~bpo12+1)`.
    pub fn from_version_output(output: &str) -> Option<Self> {
        let first_line = output.lines().next()?;
        let (_, after) = first_line.split_once("version ")?;
        let number = after.split_whitespace().next()?;
        let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let micro = parts.next().unwrap_or(Some(0))?;
        Some(Self {
            major,
            minor,
            micro,
        })
    }
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_and_upstream_banners() {
        let debian = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n";
        assert_eq!(
            QemuVersion::from_version_output(debian),
            Some(QemuVersion {
                major: 10,
                minor: 0,
                micro: 2
            })
        );
        assert_eq!(
            QemuVersion::from_version_output("QEMU emulator version 7.2.15\n"),
            Some(QemuVersion {
                major: 7,
                minor: 2,
                micro: 15
            })
        );
        assert_eq!(
            QemuVersion::from_version_output("QEMU emulator version 9.1"),
            Some(QemuVersion::new(9, 1))
        );
    }

    #[test]
    fn rejects_other_output() {
        assert_eq!(QemuVersion::from_version_output(""), None);
        assert_eq!(
            QemuVersion::from_version_output("bash: qemu: not found"),
            None
        );
        assert_eq!(
            QemuVersion::from_version_output("QEMU emulator version x.y"),
            None
        );
    }

    #[test]
    fn orders_like_releases() {
        let v = |s: &str| QemuVersion::from_version_output(&format!("QEMU emulator version {s}"));
        assert!(v("7.2.0") >= Some(QemuVersion::new(7, 2)));
        assert!(v("7.1.9") < Some(QemuVersion::new(7, 2)));
        assert!(v("10.0.2") > Some(QemuVersion::new(9, 0)));
        assert!(v("8.2.2") < Some(QemuVersion::new(9, 0)));
    }
}
