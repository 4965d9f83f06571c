//! Linux guest inputs from Debian: which packages to fetch, how to recognise
//! an arm64 `Image`, the built-in initramfs `/init` scripts, which kernel
//! modules go into the initramfs, and when the cached outputs under
//! `target/guests/` are still good. Pure logic; `commands::guests` does the
//! I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;

/// The metapackage whose dependency names the current versioned kernel.
pub const KERNEL_METAPACKAGE: &str = "linux-image-arm64:arm64";
/// The package with a statically linked `/bin/busybox`.
pub const BUSYBOX_PACKAGE: &str = "busybox-static:arm64";
/// The Debian architecture everything is fetched for.
pub const GUEST_ARCH: &str = "arm64";
/// The Debian package with `cpio`, used to pack the initramfs.
pub const CPIO_PACKAGE: &str = "cpio";
/// The line every init script prints once userspace runs; scenarios wait for it.
pub const USERSPACE_UP_LINE: &str = "bulkhead-guest: userspace up";
/// The modules (without `.ko`) copied into the initramfs for virtio devices
/// the guests will be given later, with whatever they depend on.
pub const VIRTIO_MODULES: [&str; 4] = ["virtio_mmio", "virtio_blk", "virtio_net", "virtio_console"];
/// The Raspberry Pi 4 B device tree inside the kernel package, relative to
/// its `usr/lib/linux-image-<ver>/` directory.
pub const RPI4_DTB_IN_PACKAGE: &str = "broadcom/bcm2711-rpi-4-b.dtb";

/// The versioned kernel package that `apt-cache depends linux-image-arm64:arm64`
/// names on its `Depends:` line, without any `:arm64` suffix (apt prints it
/// with or without one depending on the host architecture).
pub fn kernel_package_from_depends(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let name = line.trim().strip_prefix("Depends:")?.trim();
        let name = name.strip_suffix(":arm64").unwrap_or(name);
        let versioned = name
            .strip_prefix("linux-image-")
            .and_then(|rest| rest.strip_suffix("-arm64"))
            .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()));
        versioned.then(|| name.to_string())
    })
}

/// The kernel release (`6.1.0-56-arm64`) of a versioned kernel package name.
pub fn kernel_release(package: &str) -> Option<&str> {
    package.strip_prefix("linux-image-")
}

/// What kind of cached `.deb` a file is, from its name (`<package>_<version>_<arch>.deb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DebKind {
    /// A versioned kernel package.
    Kernel,
    /// `busybox-static`.
    Busybox,
}

impl DebKind {
    /// The kind of a cached `.deb` file name, if it is one of ours.
    pub fn of_file_name(name: &str) -> Option<Self> {
        let (package, rest) = name.split_once('_')?;
        if !rest.ends_with("_arm64.deb") {
            return None;
        }
        if package == "busybox-static" {
            Some(Self::Busybox)
        } else if kernel_release(package).is_some_and(|r| r.ends_with("-arm64")) {
            Some(Self::Kernel)
        } else {
            None
        }
    }
}

/// The offset of the magic number in the arm64 boot header
/// (Linux Documentation/arch/arm64/booting.rst, "Call the kernel image").
const IMAGE_MAGIC_OFFSET: usize = 56;
/// `ARM\x64`, the arm64 `Image` magic, as stored (little-endian 0x644d5241).
const IMAGE_MAGIC: [u8; 4] = *b"ARM\x64";
/// An EFI zboot image (compressed kernel with an EFI stub decompressor)
/// has this at offset 4 (Linux drivers/firmware/efi/libstub/zboot-header.S).
const ZBOOT_MAGIC: [u8; 4] = *b"zimg";
/// gzip's magic (RFC 1952), for a clear message on an `Image.gz`.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a file is not an uncompressed arm64 `Image`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageHeaderError {
    /// Shorter than the 64-byte header.
    TooShort(usize),
    /// A gzip file: decompress it first.
    Gzip,
    /// An EFI zboot image: compressed, needs its EFI stub.
    EfiZboot,
    /// Something else: the bytes at offset 56.
    BadMagic([u8; 4]),
}

impl fmt::Display for ImageHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort(len) => write!(
                f,
                "is {len} bytes, shorter than the 64-byte arm64 Image header"
            ),
            Self::Gzip => f.write_str("is gzip-compressed; give the uncompressed arm64 Image"),
            Self::EfiZboot => f.write_str(
                "is an EFI zboot (compressed) kernel; give the uncompressed arm64 Image",
            ),
            Self::BadMagic(found) => write!(
                f,
                "is not an arm64 Image: expected magic \"ARM\\x64\" at offset 56, found {found:02x?}"
            ),
        }
    }
}

/// Checks the arm64 `Image` header's magic number.
pub fn check_arm64_image(bytes: &[u8]) -> Result<(), ImageHeaderError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        return Err(ImageHeaderError::Gzip);
    }
    if bytes.get(4..8) == Some(&ZBOOT_MAGIC[..]) {
        return Err(ImageHeaderError::EfiZboot);
    }
    let magic: [u8; 4] = bytes
        .get(IMAGE_MAGIC_OFFSET..IMAGE_MAGIC_OFFSET + IMAGE_MAGIC.len())
        .and_then(|m| m.try_into().ok())
        .ok_or(ImageHeaderError::TooShort(bytes.len()))?;
    if magic == IMAGE_MAGIC {
        Ok(())
    } else {
        Err(ImageHeaderError::BadMagic(magic))
    }
}

/// The `/init` a guest initramfs runs: what the guest does once its kernel
/// reaches userspace. Every one first mounts proc, sysfs and devtmpfs,
/// installs busybox's applet links and prints [`USERSPACE_UP_LINE`], the
/// CPU count (`bulkhead-guest: nproc N`) and `/proc/interrupts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GuestInit {
    /// Then an interactive `sh` on the console (for `run` and by hand).
    Shell,
    /// Then `poweroff -f`: the partition asks PSCI SYSTEM_OFF and stops.
    Poweroff,
    /// Then `reboot -f`: the partition asks PSCI SYSTEM_RESET; it boots again
    /// and reboots again, so a scenario sees the up line repeat.
    Reboot,
    /// Then a kernel panic through `echo c > /proc/sysrq-trigger` (writes to
    /// the trigger file work whatever `kernel.sysrq` says).
    Panic,
}

impl GuestInit {
    /// Every init, in the order they are built.
    pub const ALL: [Self; 4] = [Self::Shell, Self::Poweroff, Self::Reboot, Self::Panic];

    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Shell => "shell",
            Self::Poweroff => "poweroff",
            Self::Reboot => "reboot",
            Self::Panic => "panic",
        }
    }

    /// The init with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// The file name of its initramfs.
    pub fn initramfs_file_name(self) -> String {
        format!("initramfs-{}.cpio.gz", self.name())
    }

    /// What it does after the common start.
    fn finale(self) -> &'static str {
        match self {
            Self::Shell => "exec sh\n",
            Self::Poweroff => "poweroff -f\n",
            Self::Reboot => "reboot -f\n",
            // If the panic did not happen, init exiting panics the kernel
            // anyway ("Attempted to kill init").
            Self::Panic => "echo c > /proc/sysrq-trigger\n",
        }
    }

    /// The complete `/init` shell script.
    pub fn script(self) -> String {
        // The kernel starts init with no PATH and with the console of its
        // built-in initramfs; applets are called through /bin/busybox until
        // `--install -s` has made their links (it needs /proc for its own path).
        let mut script = format!(
            "#!/bin/busybox sh\n\
             # Bulkhead guest init `{name}`, written by `cargo xtask guests`.\n\
             export PATH=/sbin:/usr/sbin:/bin:/usr/bin\n\
             /bin/busybox mount -t proc proc /proc\n\
             /bin/busybox mount -t sysfs sysfs /sys\n\
             /bin/busybox mount -t devtmpfs devtmpfs /dev\n\
             /bin/busybox --install -s\n\
             exec </dev/console >/dev/console 2>&1\n\
             echo \"{USERSPACE_UP_LINE}\"\n\
             echo \"bulkhead-guest: nproc $(nproc)\"\n\
             cat /proc/interrupts\n",
            name = self.name()
        );
        script.push_str(self.finale());
        script
    }
}

/// The `depends=` list of a module's `.modinfo` section (NUL-separated
/// `key=value` strings, Linux include/linux/moduleparam.h `__MODULE_INFO`):
/// the modules it needs loaded first.
pub fn modinfo_depends(modinfo: &[u8]) -> Vec<String> {
    modinfo
        .split(|b| *b == 0)
        .filter_map(|entry| entry.strip_prefix(b"depends="))
        .flat_map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A module's name from its path: the file name without `.ko` or `.ko.xz`
/// (or another compression suffix), with `-` read as `_` as modprobe does.
pub fn module_name(path: &str) -> Option<String> {
    let file = path.trim().rsplit('/').next()?;
    let stem = file.split_once(".ko").map(|(stem, _)| stem)?;
    (!stem.is_empty()).then(|| stem.replace('-', "_"))
}

/// The module names of a `modules.builtin` file (one path per line).
pub fn builtin_modules(modules_builtin: &str) -> BTreeSet<String> {
    modules_builtin.lines().filter_map(module_name).collect()
}

/// One module found in the kernel package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelModule {
    /// Its file, relative to `lib/modules/<release>/`.
    pub path: String,
    /// The modules it depends on, by name.
    pub depends: Vec<String>,
}

/// The modules needed to load `wanted`, with everything they depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleClosure {
    /// Every needed module by name.
    pub modules: BTreeMap<String, KernelModule>,
    /// Wanted or depended-on modules that `lookup` did not find (they may
    /// be built in; see [`builtin_modules`]).
    pub missing: BTreeSet<String>,
}

impl ModuleClosure {
    /// The module files to copy, sorted.
    pub fn files(&self) -> Vec<&str> {
        let mut files: Vec<&str> = self.modules.values().map(|m| m.path.as_str()).collect();
        files.sort_unstable();
        files
    }

    /// A depmod-style `modules.dep` for these modules (`path: dep-path…`,
    /// each line listing all its transitive dependencies, as modprobe reads
    /// them), sorted by path.
    pub fn modules_dep(&self) -> String {
        let mut lines: Vec<String> = self
            .modules
            .iter()
            .map(|(name, module)| {
                let mut seen = BTreeSet::new();
                let mut stack = vec![name.as_str()];
                let mut deps = Vec::new();
                while let Some(current) = stack.pop() {
                    let Some(m) = self.modules.get(current) else {
                        continue;
                    };
                    for dep in &m.depends {
                        if dep != name && seen.insert(dep.as_str()) {
                            if let Some(d) = self.modules.get(dep) {
                                deps.push(d.path.as_str());
                            }
                            stack.push(dep);
                        }
                    }
                }
                let mut line = format!("{}:", module.path);
                for dep in deps {
                    line.push(' ');
                    line.push_str(dep);
                }
                line
            })
            .collect();
        lines.sort();
        lines.iter().fold(String::new(), |mut out, l| {
            out.push_str(l);
            out.push('\n');
            out
        })
    }
}

/// Follows `depends` from `wanted`; `lookup` finds a module by name.
pub fn module_closure(
    wanted: &[&str],
    mut lookup: impl FnMut(&str) -> Option<KernelModule>,
) -> ModuleClosure {
    let mut closure = ModuleClosure::default();
    let mut queue: Vec<String> = wanted.iter().map(|w| (*w).to_string()).collect();
    while let Some(name) = queue.pop() {
        if closure.modules.contains_key(&name) || closure.missing.contains(&name) {
            continue;
        }
        match lookup(&name) {
            Some(module) => {
                queue.extend(module.depends.iter().cloned());
                closure.modules.insert(name, module);
            }
            None => {
                closure.missing.insert(name);
            }
        }
    }
    closure
}

/// What identifies one input file's contents cheaply: name, length and
/// modification time (seconds since the epoch).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileIdentity {
    /// The `.deb` file name, or the user's path.
    pub name: String,
    /// Length in bytes.
    pub len: u64,
    /// Modification time, seconds since the epoch.
    pub modified: u64,
}

/// Everything the outputs are made from. Rendered as text, it is the stamp
/// file `target/guests/inputs.stamp`: equal text means equal outputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestInputs {
    /// The cached `.deb` files used.
    pub debs: Vec<FileIdentity>,
    /// The user's `--kernel`.
    pub kernel: Option<FileIdentity>,
    /// The user's `--initrd`.
    pub initrd: Option<FileIdentity>,
    /// The inits built.
    pub inits: Vec<GuestInit>,
}

/// The stamp's line prefix for a cached `.deb`.
const STAMP_DEB: &str = "deb";

impl GuestInputs {
    /// The stamp text: one line per input, debs sorted; the init scripts
    /// themselves are included so that changing one rebuilds.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut debs = self.debs.clone();
        debs.sort();
        let mut line = |kind: &str, f: &FileIdentity| {
            let _ = writeln!(out, "{kind}\t{}\t{}\t{}", f.name, f.len, f.modified);
        };
        for deb in &debs {
            line(STAMP_DEB, deb);
        }
        if let Some(k) = &self.kernel {
            line("kernel", k);
        }
        if let Some(i) = &self.initrd {
            line("initrd", i);
        }
        for init in &self.inits {
            let _ = writeln!(out, "init\t{}", init.name());
            for script_line in init.script().lines() {
                let _ = writeln!(out, "\t{script_line}");
            }
        }
        out
    }
}

/// The `.deb` file names a stamp lists.
pub fn stamp_deb_names(stamp: &str) -> Vec<&str> {
    stamp
        .lines()
        .filter_map(|l| l.strip_prefix(STAMP_DEB)?.strip_prefix('\t'))
        .filter_map(|rest| rest.split('\t').next())
        .collect()
}

/// Whether the outputs can be kept as they are: all present and made from
/// exactly the current inputs.
pub fn outputs_are_fresh(
    stamp: Option<&str>,
    current: &GuestInputs,
    outputs_present: bool,
) -> bool {
    outputs_present && stamp == Some(current.render().as_str())
}

/// One root step of fetching the guest packages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchStep {
    /// `dpkg --add-architecture arm64`.
    AddArchitecture,
    /// `apt-get update`.
    UpdatePackageLists,
    /// `apt-get install cpio`.
    InstallCpio,
    /// `apt-get download <package>` in the cache directory; `None` for the
    /// kernel package when its name is not known yet.
    Download(Option<String>),
}

impl FetchStep {
    /// The command a person would run for this step; `debs_dir` as shown.
    pub fn shell_command(&self, debs_dir: &str) -> String {
        match self {
            Self::AddArchitecture => format!("dpkg --add-architecture {GUEST_ARCH}"),
            Self::UpdatePackageLists => "apt-get update".into(),
            Self::InstallCpio => {
                format!("DEBIAN_FRONTEND=noninteractive apt-get install -y {CPIO_PACKAGE}")
            }
            Self::Download(Some(package)) => {
                format!("mkdir -p {debs_dir} && (cd {debs_dir} && apt-get download {package})")
            }
            Self::Download(None) => format!(
                "mkdir -p {debs_dir} && (cd {debs_dir} && apt-get download \
                 \"$(apt-cache depends {KERNEL_METAPACKAGE} | sed -n 's/^ *Depends: \\(linux-image-[^:]*\\).*/\\1/p'):{GUEST_ARCH}\")"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_output_names_the_versioned_package() {
        let with_suffix = "linux-image-arm64:arm64\n  Depends: linux-image-6.1.0-56-arm64:arm64\n";
        assert_eq!(
            kernel_package_from_depends(with_suffix).as_deref(),
            Some("linux-image-6.1.0-56-arm64")
        );
        let without = "linux-image-arm64\n  Depends: linux-image-6.12.9-arm64\n  Recommends: x\n";
        assert_eq!(
            kernel_package_from_depends(without).as_deref(),
            Some("linux-image-6.12.9-arm64")
        );
        // Other dependencies (and alternatives) are skipped.
        let others = "linux-image-arm64:arm64\n  Depends: initramfs-tools\n |Depends: linux-image-6.1.0-9-arm64:arm64\n";
        assert_eq!(kernel_package_from_depends(others), None);
        let unsigned = "x\n  Depends: linux-image-6.1.0-9-arm64-unsigned:arm64\n";
        assert_eq!(kernel_package_from_depends(unsigned), None);
        assert_eq!(kernel_package_from_depends("E: No packages found"), None);
        assert_eq!(
            kernel_release("linux-image-6.1.0-56-arm64"),
            Some("6.1.0-56-arm64")
        );
    }

    #[test]
    fn deb_kinds_come_from_file_names() {
        assert_eq!(
            DebKind::of_file_name("linux-image-6.1.0-56-arm64_6.1.158-1_arm64.deb"),
            Some(DebKind::Kernel)
        );
        assert_eq!(
            DebKind::of_file_name("busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb"),
            Some(DebKind::Busybox)
        );
        assert_eq!(DebKind::of_file_name("busybox-static_1.35_amd64.deb"), None);
        assert_eq!(
            DebKind::of_file_name("linux-image-arm64_6.1_arm64.deb"),
            None
        );
        assert_eq!(DebKind::of_file_name("notes.txt"), None);
    }

    fn header_with_magic(magic: &[u8; 4]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[56..60].copy_from_slice(magic);
        bytes
    }

    #[test]
    fn image_header_magic_is_checked() {
        assert_eq!(check_arm64_image(&header_with_magic(b"ARM\x64")), Ok(()));
        assert_eq!(
            check_arm64_image(&header_with_magic(b"RISC")),
            Err(ImageHeaderError::BadMagic(*b"RISC"))
        );
        assert_eq!(
            check_arm64_image(&[0; 59]),
            Err(ImageHeaderError::TooShort(59))
        );
        assert_eq!(
            check_arm64_image(&[0x1f, 0x8b, 8, 0]),
            Err(ImageHeaderError::Gzip)
        );
        let mut zboot = header_with_magic(b"ARM\x64");
        zboot[4..8].copy_from_slice(b"zimg");
        assert_eq!(check_arm64_image(&zboot), Err(ImageHeaderError::EfiZboot));
        assert!(ImageHeaderError::BadMagic(*b"RISC")
            .to_string()
            .contains("offset 56"));
    }

    #[test]
    fn init_scripts_print_the_lines_and_end_as_named() {
        for init in GuestInit::ALL {
            let script = init.script();
            assert!(script.starts_with("#!/bin/busybox sh\n"), "{script}");
            let mount_dev = script.find("mount -t devtmpfs").expect("mounts /dev");
            let up = script.find(USERSPACE_UP_LINE).expect("prints the up line");
            let nproc = script.find("$(nproc)").expect("prints nproc");
            let interrupts = script.find("cat /proc/interrupts").expect("interrupts");
            assert!(mount_dev < up && up < nproc && nproc < interrupts);
            assert!(script.contains("mount -t proc proc /proc"));
            assert!(script.contains("mount -t sysfs sysfs /sys"));
            assert!(script.contains("--install -s"));
            let last = script.lines().last().unwrap_or_default();
            let expected = match init {
                GuestInit::Shell => "exec sh",
                GuestInit::Poweroff => "poweroff -f",
                GuestInit::Reboot => "reboot -f",
                GuestInit::Panic => "echo c > /proc/sysrq-trigger",
            };
            assert_eq!(last, expected);
            assert_eq!(GuestInit::from_name(init.name()), Some(init));
        }
        assert_eq!(GuestInit::from_name("halt"), None);
        assert_eq!(
            GuestInit::Panic.initramfs_file_name(),
            "initramfs-panic.cpio.gz"
        );
    }

    fn fake_module(path: &str, depends: &[&str]) -> KernelModule {
        KernelModule {
            path: path.into(),
            depends: depends.iter().map(|d| (*d).to_string()).collect(),
        }
    }

    #[test]
    fn module_closure_follows_dependencies() {
        let lookup = |name: &str| match name {
            "virtio_mmio" => Some(fake_module("kernel/drivers/virtio/virtio_mmio.ko", &[])),
            "virtio_blk" => Some(fake_module("kernel/drivers/block/virtio_blk.ko", &[])),
            "virtio_net" => Some(fake_module(
                "kernel/drivers/net/virtio_net.ko",
                &["net_failover"],
            )),
            "net_failover" => Some(fake_module(
                "kernel/drivers/net/net_failover.ko",
                &["failover"],
            )),
            "failover" => Some(fake_module("kernel/net/core/failover.ko", &[])),
            _ => None,
        };
        let closure = module_closure(&VIRTIO_MODULES, lookup);
        assert_eq!(
            closure.files(),
            vec![
                "kernel/drivers/block/virtio_blk.ko",
                "kernel/drivers/net/net_failover.ko",
                "kernel/drivers/net/virtio_net.ko",
                "kernel/drivers/virtio/virtio_mmio.ko",
                "kernel/net/core/failover.ko",
            ]
        );
        assert_eq!(
            closure.missing.iter().collect::<Vec<_>>(),
            vec!["virtio_console"]
        );
        let dep = closure.modules_dep();
        assert_eq!(dep.lines().count(), 5);
        assert!(dep.contains(
            "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n"
        ));
        assert!(dep.contains("kernel/net/core/failover.ko:\n"));
    }

    #[test]
    fn module_names_and_modinfo() {
        assert_eq!(
            module_name("kernel/a/virtio_blk.ko").as_deref(),
            Some("virtio_blk")
        );
        assert_eq!(
            module_name("kernel/a/virtio-gpu.ko.xz").as_deref(),
            Some("virtio_gpu")
        );
        assert_eq!(module_name("kernel/a/readme"), None);
        let builtin = builtin_modules("kernel/drivers/char/virtio_console.ko\nkernel/x/a-b.ko\n");
        assert!(builtin.contains("virtio_console") && builtin.contains("a_b"));
        let modinfo = b"license=GPL\0depends=net_failover,virtio_ring\0intree=Y\0";
        assert_eq!(
            modinfo_depends(modinfo),
            vec!["net_failover", "virtio_ring"]
        );
        assert!(modinfo_depends(b"license=GPL\0depends=\0").is_empty());
    }

    fn identity(name: &str, len: u64) -> FileIdentity {
        FileIdentity {
            name: name.into(),
            len,
            modified: 1_700_000_000,
        }
    }

    #[test]
    fn cache_is_fresh_only_for_identical_inputs_and_present_outputs() {
        let inputs = GuestInputs {
            debs: vec![
                identity("linux-image-6.1.0-56-arm64_6.1.158-1_arm64.deb", 30),
                identity("busybox-static_1%3a1.35_arm64.deb", 10),
            ],
            inits: GuestInit::ALL.to_vec(),
            ..GuestInputs::default()
        };
        let stamp = inputs.render();
        assert!(outputs_are_fresh(Some(&stamp), &inputs, true));
        assert!(!outputs_are_fresh(Some(&stamp), &inputs, false));
        assert!(!outputs_are_fresh(None, &inputs, true));
        // Order of debs does not matter; a changed length does.
        let mut reordered = inputs.clone();
        reordered.debs.reverse();
        assert!(outputs_are_fresh(Some(&stamp), &reordered, true));
        let mut changed = inputs.clone();
        changed.debs[0].len = 31;
        assert!(!outputs_are_fresh(Some(&stamp), &changed, true));
        // So does a user kernel or a different set of inits.
        let mut own_kernel = inputs.clone();
        own_kernel.kernel = Some(identity("/tmp/Image", 5));
        assert!(!outputs_are_fresh(Some(&stamp), &own_kernel, true));
        let mut one_init = inputs.clone();
        one_init.inits = vec![GuestInit::Shell];
        assert!(!outputs_are_fresh(Some(&stamp), &one_init, true));
        let mut names = stamp_deb_names(&stamp);
        names.sort_unstable();
        assert_eq!(
            names,
            vec![
                "busybox-static_1%3a1.35_arm64.deb",
                "linux-image-6.1.0-56-arm64_6.1.158-1_arm64.deb"
            ]
        );
    }

    #[test]
    fn fetch_commands_are_exact() {
        assert_eq!(
            FetchStep::AddArchitecture.shell_command("d"),
            "dpkg --add-architecture arm64"
        );
        assert_eq!(
            FetchStep::Download(Some("busybox-static:arm64".into())).shell_command("target/guests/debs"),
            "mkdir -p target/guests/debs && (cd target/guests/debs && apt-get download busybox-static:arm64)"
        );
        assert!(FetchStep::Download(None)
            .shell_command("d")
            .contains("apt-cache depends linux-image-arm64:arm64"));
        assert_eq!(
            FetchStep::InstallCpio.shell_command("d"),
            "DEBIAN_FRONTEND=noninteractive apt-get install -y cpio"
        );
    }
}
