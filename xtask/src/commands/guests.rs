//! `cargo xtask guests`: fetches Debian's arm64 kernel and busybox-static,
//! and builds what Linux partitions boot — `target/guests/Image`, the
//! Raspberry Pi 4 device tree and one initramfs per init script — or takes
//! the user's own kernel and initramfs. Outputs are cached: with the same
//! `.deb` files and options, a second run only says so.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

use object::{Object, ObjectSection};

use crate::cli::GuestsOptions;
use crate::error::{XtaskError, XtaskResult};
use crate::guests::{
    builtin_modules, check_arm64_image, kernel_package_from_depends, modinfo_depends,
    module_closure, module_name, outputs_are_fresh, stamp_deb_names, DebKind, FetchStep,
    FileIdentity, GuestInit, GuestInputs, KernelModule, BUSYBOX_PACKAGE, CPIO_PACKAGE, GUEST_ARCH,
    KERNEL_METAPACKAGE, RPI4_DTB_IN_PACKAGE, VIRTIO_MODULES,
};
use crate::workspace::Workspace;

/// Where everything lives under `target/guests/`.
struct GuestPaths {
    root: PathBuf,
}

impl GuestPaths {
    fn debs(&self) -> PathBuf {
        self.root.join("debs")
    }
    fn kernel_pkg(&self) -> PathBuf {
        self.root.join("kernel-pkg")
    }
    fn busybox_pkg(&self) -> PathBuf {
        self.root.join("busybox-pkg")
    }
    fn initramfs_tree(&self) -> PathBuf {
        self.root.join("initramfs-root")
    }
    fn image(&self) -> PathBuf {
        self.root.join("Image")
    }
    fn rpi4_dtb(&self) -> PathBuf {
        self.root.join("bcm2711-rpi-4-b.dtb")
    }
    fn initramfs(&self, init: GuestInit) -> PathBuf {
        self.root.join(init.initramfs_file_name())
    }
    fn stamp(&self) -> PathBuf {
        self.root.join("inputs.stamp")
    }
}

/// Which packages this run needs (the user's own files replace them).
#[derive(Clone, Copy, Debug)]
struct DebNeeds {
    kernel: bool,
    busybox: bool,
}

impl DebNeeds {
    fn wants(self, kind: DebKind) -> bool {
        match kind {
            DebKind::Kernel => self.kernel,
            DebKind::Busybox => self.busybox,
        }
    }
}

/// KiB, rounded up, for size reports.
fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

fn identity(path: &Path, name: String) -> XtaskResult<FileIdentity> {
    let meta = fs::metadata(path).map_err(|e| XtaskError::io("read", path, e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok(FileIdentity {
        name,
        len: meta.len(),
        modified,
    })
}

fn user_file_identity(path: &Path) -> XtaskResult<FileIdentity> {
    identity(path, path.display().to_string())
}

fn deb_identity(path: &Path) -> XtaskResult<FileIdentity> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    identity(path, name)
}

/// Runs a command to completion, failing with its name and status.
fn run_checked(command: &mut Command, what: &str) -> XtaskResult<()> {
    let status = command
        .stdin(Stdio::null())
        .status()
        .map_err(|e| XtaskError::new(format!("cannot run {what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(XtaskError::new(format!("{what} failed ({status})")))
    }
}

/// A command's standard output, or `None` when it cannot run or fails.
fn output_of(command: &mut Command) -> Option<String> {
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True when dpkg already handles arm64 packages (native or foreign).
fn arm64_enabled() -> bool {
    let listed = |arg: &str| {
        output_of(Command::new("dpkg").arg(arg))
            .is_some_and(|out| out.split_whitespace().any(|a| a == GUEST_ARCH))
    };
    listed("--print-architecture") || listed("--print-foreign-architectures")
}

/// The versioned kernel package the metapackage depends on, per APT's lists.
fn query_kernel_package() -> Option<String> {
    output_of(Command::new("apt-cache").args(["depends", KERNEL_METAPACKAGE]))
        .and_then(|out| kernel_package_from_depends(&out))
}

fn apt_knows(package: &str) -> bool {
    output_of(Command::new("apt-cache").args(["show", "--no-all-versions", package]))
        .is_some_and(|out| !out.trim().is_empty())
}

fn cpio_installed() -> bool {
    !matches!(
        Command::new("cpio")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status(),
        Err(e) if e.kind() == io::ErrorKind::NotFound
    )
}

/// The newest cached `.deb` of `package` (without `:arm64`), if any.
fn cached_deb(debs_dir: &Path, package: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_");
    fs::read_dir(debs_dir)
        .ok()?
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(&prefix) && name.ends_with("_arm64.deb")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, path)| path)
}

/// `apt-get download <package>` into the cache directory.
fn download(debs_dir: &Path, package: &str) -> XtaskResult<()> {
    println!("fetching {package} …");
    fs::create_dir_all(debs_dir).map_err(|e| XtaskError::io("create", debs_dir, e))?;
    // Running as root, APT would try to drop to its `_apt` user, which cannot
    // write here; downloading as root into our own directory is intended.
    run_checked(
        Command::new("apt-get")
            .args(["-q", "-o", "APT::Sandbox::User=root", "download", package])
            .current_dir(debs_dir),
        &format!("apt-get download {package}"),
    )
}

fn run_root_step(step: &FetchStep) -> XtaskResult<()> {
    match step {
        FetchStep::AddArchitecture => {
            println!("adding the {GUEST_ARCH} architecture to dpkg…");
            run_checked(
                Command::new("dpkg").args(["--add-architecture", GUEST_ARCH]),
                "dpkg --add-architecture",
            )
        }
        FetchStep::UpdatePackageLists => {
            println!("updating package lists (apt-get update)…");
            run_checked(Command::new("apt-get").arg("update"), "apt-get update")
        }
        FetchStep::InstallCpio => {
            println!("installing {CPIO_PACKAGE}…");
            run_checked(
                Command::new("apt-get")
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .args(["install", "-y", CPIO_PACKAGE]),
                "apt-get install cpio",
            )
        }
        // Downloads run after the package name is known; see `fetch_debs`.
        FetchStep::Download(_) => Ok(()),
    }
}

/// Makes sure the needed `.deb` files are in the cache and returns them
/// (kernel first). Uses cached files when present; otherwise needs root.
fn fetch_debs(
    workspace: &Workspace,
    paths: &GuestPaths,
    needs: DebNeeds,
) -> XtaskResult<Vec<PathBuf>> {
    let debs_dir = paths.debs();
    let mut steps = Vec::new();
    let arch_ready = arm64_enabled();
    if !arch_ready {
        steps.push(FetchStep::AddArchitecture);
    }
    let mut kernel_package = if needs.kernel && arch_ready {
        query_kernel_package()
    } else {
        None
    };
    let lists_lack_packages = (needs.kernel && kernel_package.is_none())
        || (needs.busybox && !(arch_ready && apt_knows(BUSYBOX_PACKAGE)));
    if lists_lack_packages {
        steps.push(FetchStep::UpdatePackageLists);
    }
    if needs.busybox && !cpio_installed() {
        steps.push(FetchStep::InstallCpio);
    }
    let busybox_name = BUSYBOX_PACKAGE.trim_end_matches(":arm64");
    let kernel_cached = kernel_package
        .as_deref()
        .and_then(|p| cached_deb(&debs_dir, p));
    if needs.kernel && kernel_cached.is_none() {
        steps.push(FetchStep::Download(
            kernel_package.as_ref().map(|p| format!("{p}:{GUEST_ARCH}")),
        ));
    }
    let busybox_cached = cached_deb(&debs_dir, busybox_name);
    if needs.busybox && busybox_cached.is_none() {
        steps.push(FetchStep::Download(Some(BUSYBOX_PACKAGE.to_string())));
    }
    if !steps.is_empty() && !crate::setup::running_as_root() {
        let shown = workspace.display_path(&debs_dir).display().to_string();
        println!("The guest packages are not cached yet. Run these commands as root, then run this command again:");
        for step in &steps {
            println!("  {}", step.shell_command(&shown));
        }
        return Err(XtaskError::new(
            "guest packages are not ready (see the commands above)",
        ));
    }
    for step in &steps {
        run_root_step(step)?;
    }
    let mut debs = Vec::new();
    if needs.kernel {
        if kernel_package.is_none() {
            kernel_package = query_kernel_package();
        }
        let package = kernel_package.ok_or_else(|| {
            XtaskError::new(format!(
                "`apt-cache depends {KERNEL_METAPACKAGE}` names no versioned kernel package"
            ))
        })?;
        let deb = match cached_deb(&debs_dir, &package) {
            Some(deb) => deb,
            None => {
                download(&debs_dir, &format!("{package}:{GUEST_ARCH}"))?;
                cached_deb(&debs_dir, &package).ok_or_else(|| {
                    XtaskError::new(format!("apt-get download left no {package} .deb"))
                })?
            }
        };
        debs.push(deb);
    }
    if needs.busybox {
        let deb = match busybox_cached {
            Some(deb) => deb,
            None => {
                download(&debs_dir, BUSYBOX_PACKAGE)?;
                cached_deb(&debs_dir, busybox_name).ok_or_else(|| {
                    XtaskError::new(format!("apt-get download left no {busybox_name} .deb"))
                })?
            }
        };
        debs.push(deb);
    }
    Ok(debs)
}

/// A fresh, empty directory.
fn recreate_dir(dir: &Path) -> XtaskResult<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(XtaskError::io("remove", dir, e)),
    }
    fs::create_dir_all(dir).map_err(|e| XtaskError::io("create", dir, e))
}

/// `dpkg-deb -x` into a fresh directory.
fn extract(deb: &Path, into: &Path) -> XtaskResult<()> {
    recreate_dir(into)?;
    run_checked(
        Command::new("dpkg-deb").arg("-x").arg(deb).arg(into),
        &format!("dpkg-deb -x {}", deb.display()),
    )
}

fn copy_file(from: &Path, to: &Path) -> XtaskResult<()> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(|e| XtaskError::io("create", dir, e))?;
    }
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| XtaskError::io(&format!("copy to {} from", to.display()), from, e))
}

/// Copies a kernel `Image` after checking its header.
fn install_image(from: &Path, to: &Path) -> XtaskResult<u64> {
    let bytes = fs::read(from).map_err(|e| XtaskError::io("read", from, e))?;
    check_arm64_image(&bytes).map_err(|e| XtaskError::new(format!("{} {e}", from.display())))?;
    fs::write(to, &bytes).map_err(|e| XtaskError::io("write", to, e))?;
    Ok(bytes.len() as u64)
}

/// The one `boot/vmlinuz-<release>` of an extracted kernel package.
fn find_vmlinuz(kernel_pkg: &Path) -> XtaskResult<(PathBuf, String)> {
    let boot = kernel_pkg.join("boot");
    fs::read_dir(&boot)
        .map_err(|e| XtaskError::io("read", &boot, e))?
        .flatten()
        .find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let release = name.strip_prefix("vmlinuz-")?.to_string();
            Some((e.path(), release))
        })
        .ok_or_else(|| XtaskError::new(format!("no vmlinuz-* in {}", boot.display())))
}

/// Every module file under `dir` by module name, paths relative to `base`.
fn module_files(base: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) -> XtaskResult<()> {
    for entry in fs::read_dir(dir)
        .map_err(|e| XtaskError::io("read", dir, e))?
        .flatten()
    {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            module_files(base, &path, out)?;
        } else if let Some(name) = module_name(&entry.file_name().to_string_lossy()) {
            if let Ok(rel) = path.strip_prefix(base) {
                out.insert(name, rel.to_path_buf());
            }
        }
    }
    Ok(())
}

/// A module file's ELF bytes (`.ko.xz` decompressed with the system `xz`).
fn module_elf(path: &Path) -> XtaskResult<Vec<u8>> {
    if path.extension().is_some_and(|e| e == "xz") {
        let out = Command::new("xz")
            .arg("-dc")
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| XtaskError::new(format!("cannot run xz: {e}")))?;
        if !out.status.success() {
            return Err(XtaskError::new(format!("xz -dc {} failed", path.display())));
        }
        Ok(out.stdout)
    } else {
        fs::read(path).map_err(|e| XtaskError::io("read", path, e))
    }
}

/// The modules a module file depends on, from its `.modinfo` section.
fn module_depends(path: &Path) -> XtaskResult<Vec<String>> {
    let elf = module_elf(path)?;
    let file = object::File::parse(elf.as_slice())
        .map_err(|e| XtaskError::new(format!("{} is not an ELF module: {e}", path.display())))?;
    let modinfo = file
        .section_by_name(".modinfo")
        .and_then(|s| s.data().ok())
        .unwrap_or_default();
    Ok(modinfo_depends(modinfo))
}

/// Copies the virtio modules (and the modules they depend on) into the
/// initramfs tree, with a `modules.dep` for modprobe; built-in ones need
/// nothing. Debian ships no `modules.dep` (depmod writes it on install), so
/// dependencies come from each module's `.modinfo`.
fn install_modules(kernel_pkg: &Path, release: &str, tree: &Path) -> XtaskResult<usize> {
    let modules_dir = kernel_pkg.join("lib/modules").join(release);
    let builtin_path = modules_dir.join("modules.builtin");
    let builtin =
        fs::read_to_string(&builtin_path).map_err(|e| XtaskError::io("read", &builtin_path, e))?;
    let builtin = builtin_modules(&builtin);
    let mut files = BTreeMap::new();
    module_files(&modules_dir, &modules_dir.join("kernel"), &mut files)?;
    let mut read_error = None;
    let closure = module_closure(&VIRTIO_MODULES, |name| {
        let rel = files.get(name)?;
        match module_depends(&modules_dir.join(rel)) {
            Ok(depends) => Some(KernelModule {
                path: rel.display().to_string(),
                depends,
            }),
            Err(e) => {
                read_error = Some(e);
                None
            }
        }
    });
    if let Some(e) = read_error {
        return Err(e);
    }
    let absent: Vec<&String> = closure
        .missing
        .iter()
        .filter(|m| !builtin.contains(m.as_str()))
        .collect();
    if !absent.is_empty() {
        return Err(XtaskError::new(format!(
            "kernel {release} has neither a module nor a built-in driver for {absent:?}"
        )));
    }
    let target = tree.join("lib/modules").join(release);
    for file in closure.files() {
        copy_file(&modules_dir.join(file), &target.join(file))?;
    }
    fs::create_dir_all(&target).map_err(|e| XtaskError::io("create", &target, e))?;
    let dep_out = target.join("modules.dep");
    fs::write(&dep_out, closure.modules_dep()).map_err(|e| XtaskError::io("write", &dep_out, e))?;
    Ok(closure.modules.len())
}

/// Every path under `dir`, relative to it, parents before children, sorted.
fn tree_entries(dir: &Path, relative: &Path, out: &mut Vec<PathBuf>) -> XtaskResult<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| XtaskError::io("read", dir, e))?
        .flatten()
        .collect();
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let rel = relative.join(entry.file_name());
        out.push(rel.clone());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            tree_entries(&entry.path(), &rel, out)?;
        }
    }
    Ok(())
}

/// Packs `tree` as a gzipped newc cpio archive (what the kernel unpacks as
/// an initramfs, Linux Documentation/driver-api/early-userspace), owned by
/// root, with `cpio` and `gzip`.
fn pack_initramfs(tree: &Path, out: &Path) -> XtaskResult<u64> {
    let mut entries = Vec::new();
    tree_entries(tree, Path::new(""), &mut entries)?;
    let list: String = entries
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    let list_path = tree.with_extension("list");
    fs::write(&list_path, list).map_err(|e| XtaskError::io("write", &list_path, e))?;
    let list_file =
        fs::File::open(&list_path).map_err(|e| XtaskError::io("open", &list_path, e))?;
    let out_file = fs::File::create(out).map_err(|e| XtaskError::io("create", out, e))?;
    let mut cpio = Command::new("cpio")
        .args(["--quiet", "-o", "-H", "newc", "-R", "0:0"])
        .current_dir(tree)
        .stdin(list_file)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| XtaskError::new(format!("cannot run cpio: {e}")))?;
    let cpio_out = cpio
        .stdout
        .take()
        .ok_or_else(|| XtaskError::new("cpio has no output pipe"))?;
    let gzip_status = Command::new("gzip")
        .args(["-9", "-n"])
        .stdin(cpio_out)
        .stdout(out_file)
        .status()
        .map_err(|e| XtaskError::new(format!("cannot run gzip: {e}")))?;
    let cpio_status = cpio
        .wait()
        .map_err(|e| XtaskError::new(format!("cpio: {e}")))?;
    let _ = fs::remove_file(&list_path);
    if !cpio_status.success() || !gzip_status.success() {
        return Err(XtaskError::new(format!(
            "packing {} failed (cpio {cpio_status}, gzip {gzip_status})",
            out.display()
        )));
    }
    fs::metadata(out)
        .map(|m| m.len())
        .map_err(|e| XtaskError::io("read", out, e))
}

/// The skeleton every initramfs shares: busybox and the mount points.
fn make_tree_skeleton(tree: &Path, busybox_pkg: &Path) -> XtaskResult<()> {
    recreate_dir(tree)?;
    for dir in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "root",
        "lib/modules",
    ] {
        let path = tree.join(dir);
        fs::create_dir_all(&path).map_err(|e| XtaskError::io("create", &path, e))?;
    }
    copy_file(&busybox_pkg.join("bin/busybox"), &tree.join("bin/busybox"))
}

fn write_init(tree: &Path, init: GuestInit) -> XtaskResult<()> {
    let path = tree.join("init");
    fs::write(&path, init.script()).map_err(|e| XtaskError::io("write", &path, e))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
        .map_err(|e| XtaskError::io("make executable", &path, e))
}

/// The stamp's inputs as they are now, if every `.deb` it names is still
/// cached and still needed.
fn current_inputs_per_stamp(
    stamp: &str,
    paths: &GuestPaths,
    needs: DebNeeds,
    base: &GuestInputs,
) -> Option<GuestInputs> {
    let mut debs = Vec::new();
    for name in stamp_deb_names(stamp) {
        let kind = DebKind::of_file_name(name)?;
        if needs.wants(kind) {
            debs.push(deb_identity(&paths.debs().join(name)).ok()?);
        }
    }
    Some(GuestInputs {
        debs,
        ..base.clone()
    })
}

/// Where configurations name the guests this command makes.
const GUESTS_DIR_MARKER: &str = "target/guests/";

/// Runs `guests` (cached: a no-op when up to date) if any of `configs`
/// boots a guest from `target/guests/`, so that `build`, `run`, `test` and
/// `bench` have the files before the configuration's checks look for them.
pub fn ensure_for_configs(configs: &[&Path]) -> XtaskResult<()> {
    let needs_guests = configs
        .iter()
        .any(|path| fs::read_to_string(path).is_ok_and(|text| text.contains(GUESTS_DIR_MARKER)));
    if needs_guests {
        run(&GuestsOptions::default())?;
    }
    Ok(())
}

/// Runs `guests`.
pub fn run(options: &GuestsOptions) -> XtaskResult<()> {
    let workspace = Workspace::locate();
    let paths = GuestPaths {
        root: workspace.target_dir.join("guests"),
    };
    let shown = |p: &Path| workspace.display_path(p).display().to_string();
    let inits: Vec<GuestInit> = options
        .init
        .map_or_else(|| GuestInit::ALL.to_vec(), |i| vec![i]);
    let needs = DebNeeds {
        kernel: options.kernel.is_none(),
        busybox: options.initrd.is_none(),
    };
    let base = GuestInputs {
        debs: Vec::new(),
        kernel: options
            .kernel
            .as_deref()
            .map(user_file_identity)
            .transpose()?,
        initrd: options
            .initrd
            .as_deref()
            .map(user_file_identity)
            .transpose()?,
        inits: inits.clone(),
    };
    let mut outputs = vec![paths.image()];
    if needs.kernel {
        outputs.push(paths.rpi4_dtb());
    }
    outputs.extend(inits.iter().map(|i| paths.initramfs(*i)));
    let outputs_present = outputs.iter().all(|p| p.is_file());
    let stamp = fs::read_to_string(paths.stamp()).ok();
    if let Some(current) = stamp
        .as_deref()
        .and_then(|s| current_inputs_per_stamp(s, &paths, needs, &base))
    {
        if outputs_are_fresh(stamp.as_deref(), &current, outputs_present) {
            println!("guests up to date in {}", shown(&paths.root));
            return Ok(());
        }
    }

    fs::create_dir_all(&paths.root).map_err(|e| XtaskError::io("create", &paths.root, e))?;
    let debs = fetch_debs(&workspace, &paths, needs)?;
    // A half-built set must not look fresh.
    match fs::remove_file(paths.stamp()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(XtaskError::io("remove", &paths.stamp(), e)),
    }
    let mut deb_iter = debs.iter();
    let tree = paths.initramfs_tree();

    // The kernel, and with Debian's, its modules and the Pi 4 device tree.
    let mut kernel_release_and_pkg = None;
    match &options.kernel {
        Some(own) => {
            let len = install_image(own, &paths.image())?;
            println!(
                "kernel {}: {} KiB (from {})",
                shown(&paths.image()),
                kib(len),
                own.display()
            );
        }
        None => {
            let deb = deb_iter
                .next()
                .ok_or_else(|| XtaskError::new("no kernel package was fetched"))?;
            println!("extracting {}", shown(deb));
            extract(deb, &paths.kernel_pkg())?;
            let (vmlinuz, release) = find_vmlinuz(&paths.kernel_pkg())?;
            let len = install_image(&vmlinuz, &paths.image())?;
            println!(
                "kernel {}: {} KiB (Debian linux-image-{release})",
                shown(&paths.image()),
                kib(len)
            );
            let dtb = paths
                .kernel_pkg()
                .join("usr/lib")
                .join(format!("linux-image-{release}"))
                .join(RPI4_DTB_IN_PACKAGE);
            copy_file(&dtb, &paths.rpi4_dtb())?;
            println!("device tree {}", shown(&paths.rpi4_dtb()));
            kernel_release_and_pkg = Some(release);
        }
    }

    // The initramfs images.
    match &options.initrd {
        Some(own) => {
            for init in &inits {
                copy_file(own, &paths.initramfs(*init))?;
                println!(
                    "initramfs {}: copied from {}",
                    shown(&paths.initramfs(*init)),
                    own.display()
                );
            }
        }
        None => {
            let deb = deb_iter
                .next()
                .ok_or_else(|| XtaskError::new("no busybox package was fetched"))?;
            println!("extracting {}", shown(deb));
            extract(deb, &paths.busybox_pkg())?;
            make_tree_skeleton(&tree, &paths.busybox_pkg())?;
            if let Some(release) = &kernel_release_and_pkg {
                let count = install_modules(&paths.kernel_pkg(), release, &tree)?;
                println!("modules: {count} (virtio and their dependencies) for {release}");
            }
            for init in &inits {
                write_init(&tree, *init)?;
                let out = paths.initramfs(*init);
                let len = pack_initramfs(&tree, &out)?;
                println!("initramfs {}: {} KiB", shown(&out), kib(len));
            }
        }
    }

    let inputs = GuestInputs {
        debs: debs
            .iter()
            .map(|d| deb_identity(d))
            .collect::<XtaskResult<_>>()?,
        ..base
    };
    fs::write(paths.stamp(), inputs.render())
        .map_err(|e| XtaskError::io("write", &paths.stamp(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_entries_list_parents_first() {
        let dir = std::env::temp_dir().join(format!("bulkhead-guests-tree-{}", std::process::id()));
        recreate_dir(&dir).expect("temp dir");
        fs::create_dir_all(dir.join("b/c")).expect("dirs");
        fs::write(dir.join("b/c/f"), b"x").expect("file");
        fs::write(dir.join("a"), b"y").expect("file");
        let mut entries = Vec::new();
        tree_entries(&dir, Path::new(""), &mut entries).expect("walk");
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(
            entries,
            vec![
                PathBuf::from("a"),
                PathBuf::from("b"),
                PathBuf::from("b/c"),
                PathBuf::from("b/c/f")
            ]
        );
    }

    #[test]
    fn kib_rounds_up() {
        assert_eq!(kib(0), 0);
        assert_eq!(kib(1), 1);
        assert_eq!(kib(2048), 2);
    }
}
