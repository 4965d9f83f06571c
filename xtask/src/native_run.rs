//! The same guest without Bulkhead: the QEMU command line that boots a bench
//! configuration's guest partition directly on QEMU `virt` without
//! virtualization (so QEMU enters it at EL1, as the core would), derived
//! from that same configuration — the board's GIC version, the partition's
//! vCPU count and RAM, its image (or program), initrd and boot arguments —
//! so the native and the Bulkhead run cannot drift apart.

use std::path::{Path, PathBuf};
use std::process::Command;

use bulkhead_config::{ImageSource, Partition, PartitionKind, System};

use crate::error::{XtaskError, XtaskResult};
use crate::qemu::{Console, QemuInvocation, QemuMachine, QEMU_BINARY};

/// The one guest partition of a configuration, as bare QEMU boots it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeGuest {
    /// The partition's name (for messages).
    pub partition: String,
    /// GIC version of the board.
    pub gic: u8,
    /// The partition's vCPUs: QEMU's `-smp`.
    pub vcpus: u32,
    /// The partition's RAM: QEMU's `-m`.
    pub ram_bytes: u64,
    /// Its image file, or its program's flat file: QEMU's `-kernel`.
    pub image: PathBuf,
    /// Its initrd: QEMU's `-initrd`.
    pub initrd: Option<PathBuf>,
    /// Its boot arguments: QEMU's `-append`.
    pub bootargs: String,
}

/// Why a partition cannot run natively as its config describes it.
fn unfit(partition: &Partition, why: &str) -> XtaskError {
    XtaskError::new(format!(
        "partition {:?} cannot also run on bare QEMU: {why}",
        partition.name
    ))
}

impl NativeGuest {
    /// The configuration's only guest partition, which must have one RAM
    /// region at the board's RAM base (natively QEMU's RAM starts there, and
    /// the image must land where the config tool puts it). Its image is its
    /// image file, or for a `program` the flat file `program_file` makes of
    /// it (linked where QEMU loads an arm64 Image, which the Bulkhead run
    /// must then boot too).
    pub fn from_system(
        system: &System,
        program_file: impl FnOnce(&str) -> XtaskResult<PathBuf>,
    ) -> XtaskResult<Self> {
        let mut guests = system
            .partitions
            .iter()
            .filter(|p| p.kind == PartitionKind::Guest);
        let (Some(partition), None) = (guests.next(), guests.next()) else {
            return Err(XtaskError::new(format!(
                "{}: a native comparison needs exactly one guest partition",
                system.path.display()
            )));
        };
        let [region] = partition.memory.as_slice() else {
            return Err(unfit(partition, "it needs exactly one memory region"));
        };
        if region.ipa != system.board.ram_base {
            return Err(unfit(
                partition,
                &format!(
                    "its memory starts at {:#x}, bare QEMU's RAM at {:#x}",
                    region.ipa, system.board.ram_base
                ),
            ));
        }
        let vcpus = u32::try_from(partition.vcpus.len())
            .map_err(|_| unfit(partition, "it has too many vCPUs"))?;
        let image = match &partition.source {
            ImageSource::File(image) => image.clone(),
            ImageSource::Program(name) => program_file(name)?,
        };
        Ok(Self {
            partition: partition.name.clone(),
            gic: system.gic,
            vcpus,
            ram_bytes: region.size,
            image,
            initrd: partition.initrd.clone(),
            bootargs: partition.bootargs.clone().unwrap_or_default(),
        })
    }

    /// The boot arguments with `extra` words appended.
    fn bootargs_with(&self, extra: &str) -> String {
        [self.bootargs.as_str(), extra]
            .iter()
            .filter(|words| !words.trim().is_empty())
            .map(|words| words.trim())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The QEMU arguments (after the binary name) that boot the guest with
    /// the console captured, its boot arguments followed by
    /// `extra_bootargs`, under `-icount shift=0` when `instruction_counting`.
    pub fn qemu_args(
        &self,
        extra_bootargs: &str,
        instruction_counting: bool,
    ) -> XtaskResult<Vec<String>> {
        let hardware =
            QemuMachine::Virt.hardware_args(self.vcpus, self.ram_bytes, self.gic, false)?;
        let invocation = QemuInvocation {
            hardware,
            image: &self.image,
            console: Console::Captured,
            wait_for_gdb: false,
            instruction_counting,
        };
        let mut args: Vec<String> = invocation
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if let Some(initrd) = &self.initrd {
            args.push("-initrd".into());
            args.push(path_text(initrd));
        }
        args.push("-append".into());
        args.push(self.bootargs_with(extra_bootargs));
        Ok(args)
    }

    /// The QEMU command of [`NativeGuest::qemu_args`].
    pub fn command(
        &self,
        extra_bootargs: &str,
        instruction_counting: bool,
    ) -> XtaskResult<Command> {
        let mut qemu = Command::new(QEMU_BINARY);
        qemu.args(self.qemu_args(extra_bootargs, instruction_counting)?);
        Ok(qemu)
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> System {
        let dir = std::env::temp_dir().join(format!("xtask-native-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("Image"), b"image").expect("image");
        std::fs::write(dir.join("initrd"), b"initrd").expect("initrd");
        bulkhead_config::parse_str(&dir.join("bench.toml"), text).expect("valid")
    }

    fn no_program(name: &str) -> XtaskResult<PathBuf> {
        Err(XtaskError::new(format!("no file for {name}")))
    }

    const BOARD: &str = "[board]\nname = \"qemu-virt\"\ncpus = 4\nmemory = \"1GiB\"\ngic = 2\n";

    fn guest(memory: &str) -> String {
        format!(
            "{BOARD}\n[[partition]]\nname = \"linux\"\nkind = \"guest\"\nimage = \"Image\"\n\
             initrd = \"initrd\"\nbootargs = \"console=ttyAMA0 panic=-1\"\nrestart = \"never\"\n\
             [[partition.vcpu]]\ncpu = 1\n[[partition.vcpu]]\ncpu = 2\n{memory}"
        )
    }

    #[test]
    fn derives_everything_from_the_config() {
        let system = load(&guest(
            "[[partition.memory]]\nipa = 0x4000_0000\nsize = \"256MiB\"\n",
        ));
        let native = NativeGuest::from_system(&system, no_program).expect("fits");
        assert_eq!(native.partition, "linux");
        assert_eq!(
            (native.gic, native.vcpus, native.ram_bytes),
            (2, 2, 256 << 20)
        );
        let args = native.qemu_args("native", true).expect("args");
        let joined = args.join(" ");
        assert!(
            joined.contains(
                "-M virt,virtualization=off,gic-version=2 -cpu cortex-a72 -smp 2 -m 256M "
            ),
            "{joined}"
        );
        assert!(joined.contains(" -icount shift=0 "), "{joined}");
        assert!(
            joined.contains(" -kernel ") && joined.contains("Image -initrd "),
            "{joined}"
        );
        assert_eq!(
            args.last().map(String::as_str),
            Some("console=ttyAMA0 panic=-1 native")
        );
        let plain = native.qemu_args("", false).expect("args");
        assert!(!plain.iter().any(|a| a == "-icount"));
        assert_eq!(
            plain.last().map(String::as_str),
            Some("console=ttyAMA0 panic=-1")
        );
    }

    #[test]
    fn refuses_what_bare_qemu_cannot_mirror() {
        let elsewhere = load(&guest(
            "[[partition.memory]]\nipa = 0x8000_0000\nsize = \"16MiB\"\n",
        ));
        let error = NativeGuest::from_system(&elsewhere, no_program).expect_err("moved RAM");
        assert!(
            error.to_string().contains("bare QEMU's RAM at 0x40000000"),
            "{error}"
        );

        let split = load(&guest(
            "[[partition.memory]]\nipa = 0x4000_0000\nsize = \"16MiB\"\n\
             [[partition.memory]]\nipa = 0x4200_0000\nsize = \"16MiB\"\n",
        ));
        let error = NativeGuest::from_system(&split, no_program).expect_err("two regions");
        assert!(
            error.to_string().contains("exactly one memory region"),
            "{error}"
        );

        let program = |kind: &str| {
            load(&format!(
                "{BOARD}\n[[partition]]\nname = \"tg\"\nkind = \"{kind}\"\nprogram = \"testguest\"\n\
                 restart = \"never\"\n[[partition.vcpu]]\ncpu = 0\n\
                 [[partition.memory]]\nipa = 0x4000_0000\nsize = \"16MiB\"\n"
            ))
        };
        let none = program("service");
        assert!(NativeGuest::from_system(&none, no_program)
            .expect_err("no guest")
            .to_string()
            .contains("exactly one guest partition"));

        // A program boots as the file made for it, or not at all.
        let guest = program("guest");
        let native =
            NativeGuest::from_system(&guest, |name| Ok(PathBuf::from(format!("{name}.bin"))))
                .expect("fits");
        assert_eq!(native.image, PathBuf::from("testguest.bin"));
        assert_eq!((native.vcpus, native.ram_bytes), (1, 16 << 20));
        assert!(NativeGuest::from_system(&guest, no_program).is_err());
    }
}
