//! Partitions and vCPUs: created once at boot from the manifest, each with its
//! own stage-2 tables and VMID; loaded (and reloaded on reset) from the
//! pristine image blobs that stay in the core's memory.

use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use alloc::boxed::Box;
use kernel_core::captable::CapTable;
use kernel_core::manifest::{
    region_flags, DeviceDesc, Manifest, PartitionDesc, PartitionKind, RegionDesc, RestartPolicy,
};
use kernel_core::pagetable::{self, Attrs, MapError, MapOptions, MemType, PageTable, Regime};
use kernel_core::psci::Power;
use kernel_core::restart::RestartWindow;
use kernel_core::scrub;
use spin::{Mutex, Once};

use crate::arch::context::{El1State, FpState};
use crate::arch::vectors::GuestRegs;
use crate::console::LineBuffer;
use crate::gic::VgicState;
use crate::guest_ram::{Blob, GuestRam};
use crate::mm::HeapTables;
use crate::vgic;

/// Lifecycle state of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartState {
    /// Its vCPUs run.
    Running,
    /// Stopping: waiting for its vCPUs to leave their CPUs.
    Stopping,
    /// Stopped for good (powered off, faulted with no restart left), or
    /// until its supervisor starts it.
    Stopped,
    /// Stopped after a fault, for its supervisor to decide.
    Faulted,
}

/// What to do once every vCPU of a stopping partition is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopAction {
    /// Stay stopped.
    Stop,
    /// Reload from the pristine image and start again.
    Restart,
    /// Stay stopped as faulted and tell the supervisor.
    Fault,
}

/// Mutable partition state, under one lock.
#[derive(Debug)]
pub struct PartCtl {
    /// Lifecycle state.
    pub state: PartState,
    /// vCPUs not `Off` (on or being turned on).
    pub live: usize,
    /// Pending action while `Stopping`.
    pub action: StopAction,
    /// Recent restarts after faults, for `on-crash` windows.
    pub recent_restarts: Box<RestartWindow>,
}

/// A partition.
pub struct Partition {
    /// Index in the manifest.
    pub id: usize,
    /// Its description in the manifest (which lives as long as the core).
    pub desc: PartitionDesc<'static>,
    /// RAM and device regions.
    pub regions: Vec<RegionDesc>,
    /// VTTBR_EL2 value: stage-2 root and VMID.
    pub vttbr: u64,
    /// Global index of its first vCPU.
    pub first_vcpu: usize,
    /// Number of vCPUs.
    pub vcpu_count: usize,
    /// Lifecycle.
    pub ctl: Mutex<PartCtl>,
    /// Restarts since boot (reported to the partition by PARTITION_INFO).
    pub restarts: AtomicU32,
    /// Console line being assembled.
    pub line: Mutex<LineBuffer>,
    /// Its capabilities.
    pub caps: CapTable,
    /// Its emulated device windows.
    pub devices: Vec<DeviceDesc>,
    /// Counters kept by the core, reported by PARTITION_STATUS.
    pub stats: Stats,
    /// Its virtual GIC: distributor and redistributors.
    pub vgic: vgic::Model,
    /// Its private RAM, filled (boot blobs, zeroes) on first touch or at
    /// load.
    pub ram: GuestRam,
}

impl Partition {
    /// Its name.
    pub fn name(&self) -> &'static str {
        self.desc.name
    }

    /// Does `[ipa, ipa + len)` lie in one executable RAM region?
    pub fn ipa_is_exec_ram(&self, ipa: u64) -> bool {
        self.regions.iter().any(|r| {
            r.is_ram() && r.flags & region_flags::EXEC != 0 && ipa >= r.ipa && ipa - r.ipa < r.size
        })
    }

    /// Does the partition hold the PMU?
    pub fn has_pmu(&self) -> bool {
        self.desc.flags & kernel_core::manifest::partition_flags::PMU != 0
    }

    /// Loads it for a (re)start, none of its vCPUs running: its private
    /// RAM reads as zero (nothing of a previous run reachable) except for
    /// the pristine image, device tree and initrd, visible to a guest
    /// starting with caches off (all filled in now or on first touch,
    /// `GuestRam::reload`); shared regions keep their contents. Its virtual
    /// GIC goes back to its reset state.
    pub fn load(&self) {
        vgic::reset(self);
        self.ram.reload(self.vttbr);
    }

    /// The restart decision after a fault, from the policy in the config.
    pub fn restart_after_fault(&self, ctl: &mut PartCtl, now_ms: u64) -> bool {
        match self.desc.restart {
            RestartPolicy::Never => false,
            RestartPolicy::Always => true,
            RestartPolicy::OnCrash => ctl
                .recent_restarts
                .admit(
                    now_ms,
                    self.desc.max_restarts,
                    u64::from(self.desc.restart_window_ms),
                )
                .is_ok(),
        }
    }
}

/// Counters of what the core did for a partition (its vCPUs count their
/// traps and IPC calls themselves: `traps`, `ipc_calls`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Virtual interrupts injected into it.
    pub injected_irqs: AtomicU64,
    /// Faults since boot.
    pub faults: AtomicU32,
}

impl Stats {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Register state of a vCPU, touched only by its home CPU. While it runs,
/// SP_EL2 points here (`arch::vectors`), so `regs` must stay first.
#[repr(C)]
#[derive(Default)]
pub struct VcpuContext {
    /// General registers, PC and PSTATE.
    pub regs: GuestRegs,
    /// What a trap needs at once, set when its home CPU comes up.
    pub links: crate::cpu::VcpuLinks,
    /// What it waits for in IPC.
    pub ipc: IpcWait,
    /// Virtual CPU interface.
    pub vgic: VgicState,
    /// EL1 system registers and the virtual timer.
    pub el1: El1State,
    /// FP/SIMD registers.
    pub fp: FpState,
}

/// Offset of `VcpuLinks::stack_top` in a [`VcpuContext`], for the vectors.
pub const STACK_TOP_OFFSET: usize = core::mem::offset_of!(VcpuContext, links.stack_top);
const _: () = assert!(core::mem::offset_of!(VcpuContext, regs) == 0);

/// A request another CPU posts for a vCPU's home CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Start at `entry` with x0 = `context`.
    Start {
        /// Entry IPA.
        entry: u64,
        /// x0 at entry.
        context: u64,
    },
    /// Take the vCPU off its CPU (partition stopping).
    Stop,
    /// A notification it waits on was signalled.
    Notified,
    /// Synchronise its list registers with its partition's virtual GIC.
    VgicSync,
}

/// Requests waiting for a vCPU's home CPU, merged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pending {
    /// Start at (entry, context).
    pub start: Option<(u64, u64)>,
    /// Take it off its CPU; wins over everything else.
    pub stop: bool,
    /// A notification it waits on was signalled.
    pub notified: bool,
    /// Its virtual GIC has something for it.
    pub vgic_sync: bool,
}

impl Pending {
    /// Merges a request in.
    pub fn add(&mut self, req: Request) {
        match req {
            Request::Start { entry, context } => {
                if !self.stop {
                    self.start = Some((entry, context));
                }
            }
            Request::Stop => {
                *self = Self {
                    stop: true,
                    ..Self::default()
                };
            }
            Request::Notified => self.notified = true,
            Request::VgicSync => self.vgic_sync = true,
        }
    }
}

/// What a vCPU blocked in (or on behalf of) IPC waits for. `repr(u8)`:
/// each variant is a `repr(C)` struct that starts with the tag byte (RFC
/// 2195), which the IPC fast path reads and writes (see [`IPC_WAIT_LAYOUT`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum IpcWait {
    /// Nothing.
    #[default]
    None = 0,
    /// A reply to its CALL on `endpoint`, made with `badge`.
    Call {
        /// Endpoint index.
        endpoint: u32,
        /// The caller's badge.
        badge: u64,
    } = 1,
    /// A reply completing its access to an emulated device.
    Mmio {
        /// Endpoint index of the device's service.
        endpoint: u32,
        /// The device's badge.
        badge: u64,
        /// Index of the device in its partition.
        device: u16,
        /// The access, as sent.
        access: abi::ipc::mmio::Access,
        /// Target register of a load (31 = xzr).
        register: u8,
        /// Sign-extend a load.
        sign_extend: bool,
        /// The target is a 64-bit register.
        sixty_four: bool,
    } = 2,
    /// A message on `endpoint` (blocked in RECV).
    Recv {
        /// Endpoint index.
        endpoint: u32,
    } = 3,
    /// Bits on notification `index` (blocked in WAIT).
    Wait {
        /// Notification index.
        index: u32,
    } = 4,
}

/// Where the IPC fast path finds an [`IpcWait`]: the tag byte at 0, for
/// `Call` and `Recv` the endpoint (`u32`) at 4, for `Call` the badge at 8.
pub mod ipc_wait_layout {
    /// Offset of the endpoint.
    pub const ENDPOINT: usize = 4;
    /// Offset of a call's badge.
    pub const BADGE: usize = 8;
    /// Tag of [`super::IpcWait::None`].
    pub const NONE: u8 = 0;
    /// Tag of [`super::IpcWait::Call`].
    pub const CALL: u8 = 1;
    /// Tag of [`super::IpcWait::Recv`].
    pub const RECV: u8 = 3;
}

/// Checks the layout [`ipc_wait_layout`] describes on real values.
const _: () = {
    use core::mem::{size_of, transmute, MaybeUninit};
    type Bytes = [MaybeUninit<u8>; size_of::<IpcWait>()];
    let call = IpcWait::Call {
        endpoint: 0x0403_0201,
        badge: 0x0c0b_0a09_0807_0605,
    };
    // SAFETY: `Bytes` has the size of `IpcWait` and no validity
    // requirement; only bytes that belong to the variant's fields are read
    // (tag, endpoint, badge), which `call` initialised.
    let bytes: Bytes = unsafe { transmute(call) };
    // SAFETY: as above.
    let (tag, ep, badge) = unsafe {
        (
            bytes[0].assume_init(),
            bytes[ipc_wait_layout::ENDPOINT].assume_init(),
            bytes[ipc_wait_layout::BADGE].assume_init(),
        )
    };
    assert!(tag == ipc_wait_layout::CALL && ep == 0x01 && badge == 0x05);
    let recv = IpcWait::Recv {
        endpoint: 0x0403_0201,
    };
    // SAFETY: as above, for the tag and endpoint of `recv`.
    let bytes: Bytes = unsafe { transmute(recv) };
    // SAFETY: as above.
    let (tag, ep) = unsafe {
        (
            bytes[0].assume_init(),
            bytes[ipc_wait_layout::ENDPOINT].assume_init(),
        )
    };
    assert!(tag == ipc_wait_layout::RECV && ep == 0x01);
    // SAFETY: as above, for the tag of `IpcWait::None`.
    let bytes: Bytes = unsafe { transmute(IpcWait::None) };
    // SAFETY: as above.
    assert!(unsafe { bytes[0].assume_init() } == ipc_wait_layout::NONE);
};

/// A virtual CPU.
pub struct Vcpu {
    /// Owning partition.
    pub partition: usize,
    /// Index within the partition (its MPIDR Aff0).
    pub index: usize,
    /// Physical CPU it always runs on.
    pub home: usize,
    /// Scheduling priority.
    pub priority: u8,
    /// Its FP/SIMD registers are loaded as soon as the Rust paths switch it
    /// in, not on its first FP instruction (`cpu::arm_fp_trap`): a guest's.
    pub fp_eager: bool,
    /// PSCI power state, read across CPUs.
    pub power: Mutex<Power>,
    /// Requests pending for the home CPU.
    pub requests: Mutex<Pending>,
    ctx: UnsafeCell<VcpuContext>,
}

// SAFETY: `ctx` is only accessed by the home CPU (see `Vcpu::ctx`); the other
// fields are immutable or locked.
unsafe impl Sync for Vcpu {}

impl Vcpu {
    /// The register state.
    ///
    /// Only the home CPU may call this, and it must not hold two results at
    /// once; the scheduler keeps to that (one trap at a time per CPU, vCPUs
    /// never migrate).
    #[allow(clippy::mut_from_ref)]
    pub fn ctx(&self) -> &mut VcpuContext {
        // SAFETY: see the doc comment: exclusive to the home CPU, which handles
        // one exception at a time with interrupts masked at EL2.
        unsafe { &mut *self.ctx.get() }
    }
}

/// Every partition and vCPU, built at boot.
pub struct System {
    /// Partitions in manifest order.
    pub partitions: Vec<Partition>,
    /// vCPUs of all partitions, in manifest order.
    pub vcpus: Vec<Vcpu>,
    /// Stage-2 VTCR_EL2 value shared by all partitions.
    pub vtcr: u64,
}

static SYSTEM: Once<System> = Once::new();

/// The system; empty before boot finished building it.
pub fn system() -> &'static System {
    SYSTEM.call_once(|| System {
        partitions: Vec::new(),
        vcpus: Vec::new(),
        vtcr: 0,
    })
}

/// Why a partition could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// Building its stage-2 tables failed.
    Map(&'static str, MapError),
    /// A region lies outside RAM or overlaps the core.
    Region(&'static str, u64, &'static str),
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Map(name, e) => write!(f, "partition \"{name}\": stage-2 map failed: {e:?}"),
            Self::Region(name, pa, why) => {
                write!(f, "partition \"{name}\": region at PA {pa:#x} {why}")
            }
        }
    }
}

/// Builds every partition from the manifest. `ram_ok` says whether a
/// physical range is RAM the core may hand out (inside /memory, clear of the
/// core, the device tree and reserved memory).
pub fn build(
    manifest: &Manifest<'static>,
    pa_bits: u8,
    ram_ok: impl Fn(u64, u64) -> bool,
) -> Result<(), BuildError> {
    // One input size for every partition: VTCR_EL2 is set once per CPU.
    let ipa_end = manifest
        .partitions()
        .filter_map(|p| {
            manifest
                .regions_of(&p)
                .map(|r| r.ipa.saturating_add(r.size))
                .max()
        })
        .max()
        .unwrap_or(0);
    let ipa_bits = pagetable::stage2_ipa_bits(ipa_end, pa_bits);
    let mut partitions = Vec::new();
    let mut vcpus = Vec::new();
    let mut vtcr = 0;
    let mut claimed: Vec<(u64, u64, bool)> = Vec::new();
    for (id, desc) in manifest.partitions().enumerate() {
        let name = desc.name;
        let mut tables = HeapTables;
        let mut s2 = PageTable::new(&mut tables, Regime::Stage2, ipa_bits)
            .map_err(|e| BuildError::Map(name, e))?;
        let regions: Vec<RegionDesc> = manifest.regions_of(&desc).collect();
        for r in &regions {
            if r.is_ram() {
                if !ram_ok(r.pa, r.size) {
                    return Err(BuildError::Region(
                        name,
                        r.pa,
                        "is not free RAM on this machine",
                    ));
                }
                let shared = r.flags & region_flags::SHARED != 0;
                if claimed.iter().any(|&(a, b, other_shared)| {
                    r.pa < b
                        && a < r.pa + r.size
                        && !(shared && other_shared && a == r.pa && b == r.pa + r.size)
                }) {
                    return Err(BuildError::Region(name, r.pa, "overlaps another partition"));
                }
                claimed.push((r.pa, r.pa + r.size, shared));
            }
            let attrs = Attrs {
                read: r.flags & region_flags::READ != 0,
                write: r.flags & region_flags::WRITE != 0,
                exec: r.flags & region_flags::EXEC != 0 && r.is_ram(),
                mem: if r.is_ram() {
                    MemType::Normal
                } else {
                    MemType::Device
                },
            };
            // Private RAM is parked until scrubbed (`guest_ram`), in
            // 4 KiB pages (`scrub::PRIVATE_RAM_MAPPING` says why).
            let options = if scrub::is_private_ram(r) {
                scrub::PRIVATE_RAM_MAPPING
            } else {
                MapOptions::DEFAULT
            };
            s2.map_with(&mut tables, r.ipa, r.pa, r.size, attrs, options)
                .map_err(|e| BuildError::Map(name, e))?;
        }
        // The pristine boot blobs stay in the manifest, in the core's
        // memory: every load of the partition is filled from them.
        let blobs = [
            Blob {
                ipa: desc.image_ipa,
                bytes: manifest.blob(desc.image),
            },
            Blob {
                ipa: desc.dtb_ipa,
                bytes: manifest.blob(desc.dtb),
            },
            Blob {
                ipa: desc.initrd_ipa,
                bytes: manifest.blob(desc.initrd),
            },
        ];
        let ram = GuestRam::new(s2, &regions, scrub::timing(&regions), &blobs);
        vtcr = pagetable::vtcr_el2(&s2, pa_bits);
        let vmid = (id as u64 + 1) & 0xff;
        let first_vcpu = vcpus.len();
        for (index, v) in manifest.vcpus_of(&desc).enumerate() {
            let ctx = VcpuContext::default();
            vcpus.push(Vcpu {
                partition: id,
                index,
                home: v.cpu as usize,
                priority: v.priority,
                fp_eager: desc.kind == PartitionKind::Guest,
                power: Mutex::new(Power::Off),
                requests: Mutex::new(Pending::default()),
                ctx: UnsafeCell::new(ctx),
            });
        }
        partitions.push(Partition {
            id,
            desc,
            regions,
            vttbr: s2.root() | vmid << 48,
            first_vcpu,
            vcpu_count: vcpus.len() - first_vcpu,
            vgic: vgic::new_model(manifest, id, &desc, vcpus.len() - first_vcpu),
            ram,
            ctl: Mutex::new(PartCtl {
                state: PartState::Stopped,
                live: 0,
                action: StopAction::Stop,
                recent_restarts: Box::default(),
            }),
            restarts: AtomicU32::new(0),
            line: Mutex::new(LineBuffer::new()),
            caps: CapTable::from_descs(manifest.caps_of(&desc)),
            devices: manifest.devices_of(&desc).collect(),
            stats: Stats::default(),
        });
    }
    SYSTEM.call_once(|| System {
        partitions,
        vcpus,
        vtcr,
    });
    Ok(())
}

/// Partition `id`.
pub fn partition(id: usize) -> Option<&'static Partition> {
    system().partitions.get(id)
}

/// vCPU `id` (global index).
pub fn vcpu(id: usize) -> Option<&'static Vcpu> {
    system().vcpus.get(id)
}

/// Exceptions taken from a partition's vCPUs since boot.
pub fn traps(p: &Partition) -> u64 {
    vcpu_counters(p, core::mem::offset_of!(GuestRegs, traps))
}

/// IPC calls a partition's vCPUs made since boot.
pub fn ipc_calls(p: &Partition) -> u64 {
    vcpu_counters(p, core::mem::offset_of!(GuestRegs, ipc_calls))
}

/// The sum over a partition's vCPUs of the `u64` counter at `offset` in
/// their registers, which only each vCPU's home CPU increments.
fn vcpu_counters(p: &Partition, offset: usize) -> u64 {
    (p.first_vcpu..p.first_vcpu + p.vcpu_count)
        .filter_map(vcpu)
        .map(|v| {
            let regs = core::ptr::addr_of!(v.ctx) as *const u8;
            // A relaxed read of a counter its home CPU increments: an aligned
            // 64-bit load is single-copy atomic, at worst a count one behind.
            // SAFETY: `offset` is that of a `u64` field of the `repr(C)`
            // `GuestRegs` at the start of the context.
            unsafe { core::ptr::read_volatile(regs.add(offset) as *const u64) }
        })
        .sum()
}

/// Restart count of a partition.
pub fn restarts(p: &Partition) -> u32 {
    p.restarts.load(Ordering::Relaxed)
}

/// Resets a vCPU's register state for a start at `entry` with x0 = `context`:
/// EL1h, interrupts masked, MMU off (PSCI CPU_ON semantics, DEN0022 §6.4).
pub fn reset_context(v: &Vcpu, entry: u64, context: u64, gic_v3: bool) {
    let ctx = v.ctx();
    crate::arch::percpu::this_cpu().forget_hvc_trapped(&mut ctx.regs);
    let (traps, calls, links) = (ctx.regs.traps, ctx.regs.ipc_calls, ctx.links);
    *ctx = VcpuContext::default();
    ctx.regs.traps = traps;
    ctx.regs.ipc_calls = calls;
    ctx.links = links;
    ctx.regs.x[0] = context;
    ctx.regs.elr = entry;
    ctx.regs.spsr = 0x3c5; // EL1h, D A I F masked
    ctx.el1 = El1State::reset(1 << 31 | v.index as u64, gic_v3);
}
