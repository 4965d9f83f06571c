//! Posted MMIO policy (`abi::posted_mmio`): for one emulated device window,
//! the registers its service published — a value the core answers loads
//! with, kept in the window's [`RegisterPage`], or an offset whose stores
//! the core queues — whether the page is mapped into the guest for reads,
//! the bounded queue of those stores, and the notification armed to
//! announce the next one. Also how the two hypercalls name a window and a
//! notification through the caller's capabilities. The core keeps one
//! [`WindowState`] per window behind a lock (`kernel/src/posted_mmio.rs`),
//! and maps and unmaps the page as [`PageChange`] says.

use core::sync::atomic::{AtomicU32, Ordering};

use abi::ipc::{rights, ObjectKind};
use abi::posted_mmio::{
    kind, Drained, PostedWrite, DRAIN_MAX, MAX_REGISTERS, OFFSET_LIMIT, QUEUE_CAPACITY,
    REGISTER_PAGE,
};
use abi::Error;

use crate::captable::CapTable;

/// 32-bit registers in a [`RegisterPage`].
const PAGE_WORDS: usize = (REGISTER_PAGE / 4) as usize;

/// A window's register page: the published `READ` values at their offsets,
/// zero elsewhere. One whole 4 KiB page of its own (aligned and sized so),
/// because the core may map it read-only into the guest: nothing else may
/// share the frame. Its words are atomics since the guest reads them
/// without the window's lock.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct RegisterPage {
    words: [AtomicU32; PAGE_WORDS],
}

impl RegisterPage {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            words: [const { AtomicU32::new(0) }; PAGE_WORDS],
        }
    }

    /// The word at byte `offset` (4-byte aligned, below [`REGISTER_PAGE`]).
    fn word(&self, offset: u64) -> Option<&AtomicU32> {
        self.words.get(usize::try_from(offset / 4).ok()?)
    }

    /// What a guest load of `size` bytes at `offset` reads from the page.
    fn read(&self, offset: u64, size: u8) -> Option<u64> {
        let within = offset % 4;
        let word = self.word(offset - within)?.load(Ordering::Acquire);
        Some((u64::from(word) >> (within * 8)) & size_mask(size))
    }

    fn write(&self, offset: u64, value: u32) {
        if let Some(word) = self.word(offset) {
            word.store(value, Ordering::Release);
        }
    }

    fn clear(&self) {
        for word in &self.words {
            word.store(0, Ordering::Relaxed);
        }
    }
}

impl Default for RegisterPage {
    fn default() -> Self {
        Self::new()
    }
}

/// Which words of the register page hold a published value.
type ReadBits = [u64; PAGE_WORDS / 64];

/// What a publish asks of the core's stage-2 tables for the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageChange {
    /// Nothing.
    None,
    /// Map the register page read-only at the window.
    Map,
    /// Unmap it and invalidate the guest's translations of it everywhere.
    Unmap,
}

/// A notification to signal when the next store is queued: its index among
/// the core's notifications and the bits to OR in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    /// Notification index.
    pub notification: u32,
    /// Bits to signal (never 0).
    pub bits: u64,
}

/// What became of a guest's store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// No posted register takes it (another offset or width): it goes to
    /// the service as a synchronous message.
    NotPosted,
    /// Posted, but the queue is full: synchronous too; the service drains
    /// the queue before it handles it, which keeps the order.
    QueueFull,
    /// Queued; the guest goes on. `wake`, if armed, must be signalled now
    /// (once: it is disarmed).
    Queued {
        /// The armed notification.
        wake: Option<Wake>,
    },
}

/// The bits of an access of `size` bytes.
fn size_mask(size: u8) -> u64 {
    (1u64 << (u32::from(size) * 8)) - 1
}

/// The published registers and queued stores of one window.
#[derive(Debug)]
pub struct WindowState {
    /// The `READ` values, at their offsets.
    page: RegisterPage,
    /// Which words of `page` are published.
    reads: ReadBits,
    /// The page is (to be) mapped into the guest: loads read it directly.
    reads_mapped: bool,
    /// Offsets (4-byte aligned) whose stores are queued.
    posted: [Option<u64>; MAX_REGISTERS],
    /// Queued stores as [`PostedWrite`] words, a ring: `len` of them from
    /// `head`.
    queue: [u64; QUEUE_CAPACITY],
    head: usize,
    len: usize,
    wake: Option<Wake>,
}

impl Default for WindowState {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowState {
    /// Nothing published, nothing queued, nothing armed.
    pub const fn new() -> Self {
        Self {
            page: RegisterPage::new(),
            reads: [0; PAGE_WORDS / 64],
            reads_mapped: false,
            posted: [None; MAX_REGISTERS],
            queue: [0; QUEUE_CAPACITY],
            head: 0,
            len: 0,
            wake: None,
        }
    }

    /// Whether any register is published (or reads are mapped): if not,
    /// every access is synchronous and nothing needs looking up.
    pub fn has_registers(&self) -> bool {
        self.reads_mapped
            || self.reads.iter().any(|&bits| bits != 0)
            || self.posted.iter().any(Option::is_some)
    }

    /// Stores waiting to be drained.
    pub fn queued(&self) -> usize {
        self.len
    }

    /// The register page, for the core to map.
    pub fn page(&self) -> &RegisterPage {
        &self.page
    }

    /// Whether the page is mapped into the guest for its loads.
    pub fn reads_mapped(&self) -> bool {
        self.reads_mapped
    }

    /// The bit of `reads` for the word at `offset`, if in the page.
    fn read_bit(offset: u64) -> Option<(usize, u64)> {
        (offset < REGISTER_PAGE).then(|| ((offset / 4 / 64) as usize, 1u64 << (offset / 4 % 64)))
    }

    fn is_read(&self, offset: u64) -> bool {
        Self::read_bit(offset)
            .and_then(|(i, bit)| self.reads.get(i).map(|bits| bits & bit != 0))
            .unwrap_or(false)
    }

    fn is_posted(&self, offset: u64) -> bool {
        self.posted.contains(&Some(offset))
    }

    /// Forgets whatever is published at `offset`.
    fn forget(&mut self, offset: u64) {
        if let Some((i, bit)) = Self::read_bit(offset) {
            if let Some(bits) = self.reads.get_mut(i) {
                *bits &= !bit;
            }
            self.page.write(offset, 0);
        }
        for slot in &mut self.posted {
            if *slot == Some(offset) {
                *slot = None;
            }
        }
    }

    /// `MMIO_PUBLISH` on a window of `window_size` bytes: register at
    /// `offset` becomes `kind` (an `abi::posted_mmio::kind`), with `value`
    /// for `READ`; or, for `MAP_READS`/`TRAP_READS` (offset 0), the register
    /// page is mapped or unmapped. Publishing an offset again replaces what
    /// it was. Returns what the core must do to the guest's stage 2.
    pub fn publish(
        &mut self,
        window_size: u64,
        offset: u64,
        kind: u64,
        value: u64,
    ) -> Result<PageChange, Error> {
        if !offset.is_multiple_of(4) || offset >= window_size || offset >= OFFSET_LIMIT {
            return Err(Error::InvalidParameter);
        }
        match kind {
            kind::NONE => {
                self.forget(offset);
                Ok(PageChange::None)
            }
            kind::READ => {
                let value = u32::try_from(value).map_err(|_| Error::InvalidParameter)?;
                let (i, bit) = Self::read_bit(offset).ok_or(Error::InvalidParameter)?;
                self.forget(offset);
                if let Some(bits) = self.reads.get_mut(i) {
                    *bits |= bit;
                }
                self.page.write(offset, value);
                Ok(PageChange::None)
            }
            kind::POSTED => {
                if !self.is_posted(offset) {
                    let free = self.posted.iter().position(Option::is_none);
                    let slot = free.ok_or(Error::WrongState)?;
                    self.forget(offset);
                    if let Some(entry) = self.posted.get_mut(slot) {
                        *entry = Some(offset);
                    }
                }
                Ok(PageChange::None)
            }
            kind::MAP_READS | kind::TRAP_READS => {
                if offset != 0 || window_size != REGISTER_PAGE {
                    return Err(Error::InvalidParameter);
                }
                let map = kind == kind::MAP_READS;
                if map == self.reads_mapped {
                    return Ok(PageChange::None);
                }
                self.reads_mapped = map;
                Ok(if map {
                    PageChange::Map
                } else {
                    PageChange::Unmap
                })
            }
            _ => Err(Error::InvalidParameter),
        }
    }

    /// The core could not map the page after [`Self::publish`] said
    /// [`PageChange::Map`]: loads keep trapping.
    pub fn map_failed(&mut self) {
        self.reads_mapped = false;
    }

    /// A guest load of `size` bytes at `offset` that trapped: the bytes of
    /// a published value it reads, zero-extended (the caller extends them
    /// as the instruction asks), or `None` if the service must answer it
    /// (nothing published there, 8 bytes, or a load crossing the word).
    /// While reads are mapped, every load inside the page reads it, as an
    /// untrapped one does.
    pub fn load(&self, offset: u64, size: u8) -> Option<u64> {
        let within = offset % 4;
        if !matches!(size, 1 | 2 | 4) || within + u64::from(size) > 4 {
            return None;
        }
        if !self.reads_mapped && !self.is_read(offset - within) {
            return None;
        }
        self.page.read(offset, size)
    }

    /// A guest store of `size` bytes of `value` at `offset` by its vCPU
    /// `vcpu`.
    pub fn store(&mut self, offset: u64, size: u8, value: u64, vcpu: usize) -> Store {
        if !matches!(size, 1 | 2 | 4) || !self.is_posted(offset) {
            return Store::NotPosted;
        }
        if self.len == QUEUE_CAPACITY {
            return Store::QueueFull;
        }
        let write = PostedWrite {
            value: (value & size_mask(size)) as u32,
            // Below OFFSET_LIMIT: registers are only published there.
            offset: offset as u32,
            size,
            vcpu: u8::try_from(vcpu).unwrap_or(u8::MAX),
        };
        if let Some(slot) = self.queue.get_mut((self.head + self.len) % QUEUE_CAPACITY) {
            *slot = write.to_word();
            self.len += 1;
        }
        Store::Queued {
            wake: self.wake.take(),
        }
    }

    /// `MMIO_DRAIN`: takes up to five queued stores, oldest first. With
    /// `arm`, if the queue is then empty, the next store queued signals it.
    pub fn drain(&mut self, arm: Option<Wake>) -> Drained {
        let mut drained = Drained::default();
        for word in drained.words.iter_mut().take(self.len.min(DRAIN_MAX)) {
            *word = self.queue.get(self.head).copied().unwrap_or(0);
            self.head = (self.head + 1) % QUEUE_CAPACITY;
            self.len -= 1;
            drained.status.count += 1;
        }
        drained.status.more = self.len > 0;
        if let (Some(arm), false) = (arm, drained.status.more) {
            self.wake = Some(arm);
            drained.status.armed = true;
        }
        drained
    }

    /// The service stopped: what it published, what was queued for it and
    /// what it armed are gone (a restarted service starts from reset and
    /// publishes again). Returns [`PageChange::Unmap`] if the page was
    /// mapped.
    pub fn reset(&mut self) -> PageChange {
        let was_mapped = self.reads_mapped;
        self.page.clear();
        self.reads = [0; PAGE_WORDS / 64];
        self.reads_mapped = false;
        self.posted = [None; MAX_REGISTERS];
        self.queue = [0; QUEUE_CAPACITY];
        self.head = 0;
        self.len = 0;
        self.wake = None;
        if was_mapped {
            PageChange::Unmap
        } else {
            PageChange::None
        }
    }
}

/// The window an `MMIO_PUBLISH` or `MMIO_DRAIN` names: the capability in
/// `slot` must be an endpoint the caller serves (right `recv`), and the
/// window the one behind that endpoint with `badge`. `windows` lists every
/// window as (endpoint, badge); the result is the position of the one
/// named. The configuration gives the windows behind one endpoint distinct
/// badges.
pub fn named_window(
    caps: &CapTable,
    slot: u64,
    badge: u64,
    windows: impl IntoIterator<Item = (u32, u64)>,
) -> Result<usize, Error> {
    let cap = caps.lookup(slot, ObjectKind::Endpoint, rights::RECV)?;
    windows
        .into_iter()
        .position(|(endpoint, b)| endpoint == cap.object && b == badge)
        .ok_or(Error::NotPresent)
}

/// The notification an `MMIO_DRAIN` arms: none when `bits` is 0, else the
/// one in `slot`, which the caller must be able to wait on.
pub fn named_wake(caps: &CapTable, slot: u64, bits: u64) -> Result<Option<Wake>, Error> {
    if bits == 0 {
        return Ok(None);
    }
    let cap = caps.lookup(slot, ObjectKind::Notification, rights::WAIT)?;
    Ok(Some(Wake {
        notification: cap.object,
        bits,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esr::loaded_register_value;
    use crate::manifest::CapDesc;
    use abi::posted_mmio::DrainStatus;

    const WINDOW: u64 = 0x1000;
    const FR: u64 = 0x18;
    const DR: u64 = 0x00;
    const WAKE: Wake = Wake {
        notification: 3,
        bits: 0b10,
    };

    fn uart() -> WindowState {
        let mut w = WindowState::new();
        w.publish(WINDOW, FR, kind::READ, 0x97).unwrap();
        w.publish(WINDOW, DR, kind::POSTED, 0).unwrap();
        w
    }

    fn writes(d: &Drained) -> Vec<PostedWrite> {
        d.writes().collect()
    }

    #[test]
    fn every_bad_publish_is_refused_and_changes_nothing() {
        let mut w = WindowState::new();
        for (offset, kind_, value) in [
            (0x19, kind::READ, 0),         // unaligned
            (WINDOW, kind::READ, 0),       // past the window
            (OFFSET_LIMIT, kind::READ, 0), // past what a write word holds
            (FR, 5, 0),                    // no such kind
            (FR, u64::MAX, 0),             // no such kind
            (FR, kind::READ, 1 << 32),     // not a 32-bit value
            (FR, kind::MAP_READS, 0),      // page calls take offset 0
            (FR, kind::TRAP_READS, 0),
            (REGISTER_PAGE, kind::READ, 0), // past the register page
        ] {
            let big = OFFSET_LIMIT * 2;
            let size = if offset == FR { WINDOW } else { big };
            assert_eq!(
                w.publish(size, offset, kind_, value),
                Err(Error::InvalidParameter),
                "offset {offset:#x} kind {kind_} value {value:#x}"
            );
        }
        assert!(!w.has_registers());
    }

    #[test]
    fn posted_entries_are_bounded_reads_are_not_and_republishing_replaces() {
        let mut w = WindowState::new();
        for i in 0..MAX_REGISTERS as u64 {
            w.publish(WINDOW, 0x100 + 4 * i, kind::POSTED, 0).unwrap();
        }
        assert_eq!(
            w.publish(WINDOW, 0x200, kind::POSTED, 0),
            Err(Error::WrongState),
            "posted entries full"
        );
        // An offset already posted is fine, even when full.
        assert_eq!(
            w.publish(WINDOW, 0x100, kind::POSTED, 0),
            Ok(PageChange::None)
        );
        // Every word of the page can hold a value.
        for offset in (0..REGISTER_PAGE)
            .step_by(4)
            .filter(|o| !(0x100..0x120).contains(o))
        {
            w.publish(WINDOW, offset, kind::READ, offset ^ 0x5A5A)
                .unwrap();
        }
        assert_eq!(w.load(0xFFC, 4), Some(0xFFC ^ 0x5A5A));
        // READ replaces POSTED and frees its entry; POSTED replaces READ.
        w.publish(WINDOW, 0x104, kind::READ, 0xAB).unwrap();
        assert_eq!(w.load(0x104, 4), Some(0xAB));
        assert_eq!(w.store(0x104, 4, 1, 0), Store::NotPosted);
        w.publish(WINDOW, 0x200, kind::POSTED, 0).unwrap();
        assert_eq!(w.load(0x200, 4), None, "a posted register is not readable");
        // Forgetting; forgetting twice is harmless.
        w.publish(WINDOW, 0x104, kind::NONE, 0).unwrap();
        w.publish(WINDOW, 0x104, kind::NONE, 0).unwrap();
        assert_eq!(w.load(0x104, 4), None);
        assert_eq!(w.store(0x104, 4, 1, 0), Store::NotPosted);
    }

    #[test]
    fn mapped_reads_serve_every_load_of_the_page() {
        let mut w = uart();
        assert!(!w.reads_mapped());
        // Only a window of exactly one page can be mapped.
        assert_eq!(
            w.publish(2 * WINDOW, 0, kind::MAP_READS, 0),
            Err(Error::InvalidParameter)
        );
        let page = |w: &mut WindowState, kind| w.publish(WINDOW, 0, kind, 0);
        assert_eq!(page(&mut w, kind::MAP_READS), Ok(PageChange::Map));
        assert_eq!(page(&mut w, kind::MAP_READS), Ok(PageChange::None));
        assert!(w.reads_mapped() && w.has_registers());
        // A load that still traps (before the guest sees the mapping) reads
        // what the page holds: the value, or zero where nothing is published.
        assert_eq!(w.load(FR, 4), Some(0x97));
        assert_eq!(w.load(0x30, 2), Some(0));
        assert_eq!(w.load(DR, 4), Some(0));
        assert_eq!(w.load(FR, 8), None, "not a load the page serves alone");
        // Republishing changes the page in place.
        w.publish(WINDOW, FR, kind::READ, 0x90).unwrap();
        assert_eq!(w.load(FR, 1), Some(0x90));
        // Stores still go by the posted entries.
        assert_eq!(w.store(DR, 1, 0x41, 0), Store::Queued { wake: None });
        assert_eq!(w.store(FR, 4, 0, 0), Store::NotPosted);
        assert_eq!(page(&mut w, kind::TRAP_READS), Ok(PageChange::Unmap));
        assert_eq!(page(&mut w, kind::TRAP_READS), Ok(PageChange::None));
        assert_eq!(
            w.load(0x30, 4),
            None,
            "unpublished loads trap to the service again"
        );
        assert_eq!(w.load(FR, 4), Some(0x90));
        // A failed mapping leaves the window trapping.
        page(&mut w, kind::MAP_READS).unwrap();
        w.map_failed();
        assert!(!w.reads_mapped());
        assert_eq!(w.load(0x30, 4), None);
    }

    #[test]
    fn the_register_page_is_a_frame_of_its_own() {
        assert_eq!(core::mem::size_of::<RegisterPage>() as u64, REGISTER_PAGE);
        assert_eq!(core::mem::align_of::<RegisterPage>() as u64, REGISTER_PAGE);
        let w = Box::new(uart());
        let at = core::ptr::from_ref(w.page()) as usize;
        assert_eq!(at % REGISTER_PAGE as usize, 0);
        // Little-endian bytes, as the guest's loads see them.
        w.page().write(0x40, 0x1122_3344);
        assert_eq!(w.page().read(0x41, 2), Some(0x2233));
    }

    #[test]
    fn loads_read_the_published_bytes_with_the_instructions_extension() {
        let w = uart();
        // FR = 0x97: bit 7 set, so LDRSB sees a negative byte.
        assert_eq!(w.load(FR, 4), Some(0x97));
        assert_eq!(w.load(FR, 2), Some(0x97));
        assert_eq!(w.load(FR, 1), Some(0x97));
        assert_eq!(w.load(FR + 1, 1), Some(0));
        assert_eq!(w.load(FR + 2, 2), Some(0));
        // As the core completes them: LDRSB Xt, LDRSB Wt, LDRSH, LDR Wt.
        let ldrsb_x = loaded_register_value(w.load(FR, 1).unwrap(), 1, true, true);
        assert_eq!(ldrsb_x, 0xFFFF_FFFF_FFFF_FF97);
        let ldrsb_w = loaded_register_value(w.load(FR, 1).unwrap(), 1, true, false);
        assert_eq!(ldrsb_w, 0xFFFF_FF97);
        assert_eq!(
            loaded_register_value(w.load(FR, 2).unwrap(), 2, true, true),
            0x97
        );
        // What the service answers: 8 bytes, a load across the word, a
        // posted or an unpublished register.
        assert_eq!(w.load(FR, 8), None);
        assert_eq!(w.load(FR + 3, 2), None);
        assert_eq!(w.load(FR + 2, 4), None);
        assert_eq!(w.load(DR, 4), None);
        assert_eq!(w.load(0x30, 4), None);
    }

    #[test]
    fn stores_queue_in_order_and_drain_five_at_a_time() {
        let mut w = uart();
        assert_eq!(w.store(DR, 1, 0x141, 0), Store::Queued { wake: None });
        assert_eq!(w.store(DR, 2, 0xFFFF_0042, 1), Store::Queued { wake: None });
        assert_eq!(w.store(DR, 4, 0x43, 0), Store::Queued { wake: None });
        // Not posted: 8 bytes, another byte of the register, another register.
        assert_eq!(w.store(DR, 8, 0x44, 0), Store::NotPosted);
        assert_eq!(w.store(DR + 1, 1, 0x44, 0), Store::NotPosted);
        assert_eq!(w.store(FR, 4, 0, 0), Store::NotPosted);
        let d = w.drain(None);
        assert_eq!(
            d.status,
            DrainStatus {
                count: 3,
                more: false,
                armed: false
            }
        );
        let got: Vec<_> = writes(&d)
            .iter()
            .map(|p| (p.value, p.size, p.vcpu))
            .collect();
        // Each value cut to its store's width.
        assert_eq!(got, [(0x41, 1, 0), (0x42, 2, 1), (0x43, 4, 0)]);
        assert_eq!(w.drain(None), Drained::default());
    }

    #[test]
    fn a_full_queue_sends_stores_the_synchronous_way_and_wraps() {
        let mut w = uart();
        // Twice round the ring, draining as we go, keeps the order.
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        for _ in 0..2 {
            while let Store::Queued { .. } = w.store(DR, 4, u64::from(next_in), 0) {
                next_in += 1;
            }
            assert_eq!(w.queued(), QUEUE_CAPACITY);
            assert_eq!(w.store(DR, 1, 0, 0), Store::QueueFull);
            // Drain part of it, so the next round starts mid-ring.
            for _ in 0..7 {
                for p in writes(&w.drain(None)) {
                    assert_eq!(p.value, next_out);
                    next_out += 1;
                }
            }
        }
        loop {
            let d = w.drain(None);
            for p in writes(&d) {
                assert_eq!(p.value, next_out);
                next_out += 1;
            }
            if !d.status.more {
                break;
            }
            assert_eq!(d.status.count as usize, DRAIN_MAX);
        }
        assert_eq!(next_out, next_in);
        assert_eq!(w.queued(), 0);
    }

    #[test]
    fn the_armed_notification_fires_once_for_the_next_store() {
        let mut w = uart();
        w.store(DR, 1, 1, 0);
        // Not empty afterwards: not armed, drain again.
        for _ in 0..DRAIN_MAX {
            w.store(DR, 1, 1, 0);
        }
        let d = w.drain(Some(WAKE));
        assert!(d.status.more && !d.status.armed);
        let d = w.drain(Some(WAKE));
        assert!(!d.status.more && d.status.armed);
        assert_eq!(d.status.count, 1);
        // The next store wakes; the one after does not.
        assert_eq!(w.store(DR, 1, 2, 0), Store::Queued { wake: Some(WAKE) });
        assert_eq!(w.store(DR, 1, 3, 0), Store::Queued { wake: None });
        // A drain without a notification leaves an armed one armed.
        w.drain(Some(WAKE));
        w.drain(None);
        assert_eq!(w.store(DR, 1, 4, 0), Store::Queued { wake: Some(WAKE) });
        // Refused stores do not consume the arming.
        w.drain(Some(WAKE));
        assert_eq!(w.store(DR, 8, 5, 0), Store::NotPosted);
        assert_eq!(w.store(DR, 1, 6, 0), Store::Queued { wake: Some(WAKE) });
    }

    #[test]
    fn reset_forgets_registers_stores_and_arming() {
        let mut w = uart();
        w.store(DR, 1, 1, 0);
        w.drain(Some(WAKE));
        w.store(DR, 1, 2, 0);
        assert_eq!(w.reset(), PageChange::None);
        w.publish(WINDOW, FR, kind::READ, 0x97).unwrap();
        w.publish(WINDOW, 0, kind::MAP_READS, 0).unwrap();
        assert_eq!(w.reset(), PageChange::Unmap);
        assert!(!w.has_registers());
        assert_eq!(w.page().read(FR, 4), Some(0), "the page is cleared");
        assert_eq!(w.queued(), 0);
        assert_eq!(w.load(FR, 4), None);
        w.publish(WINDOW, DR, kind::POSTED, 0).unwrap();
        assert_eq!(w.store(DR, 1, 3, 0), Store::Queued { wake: None });
    }

    fn caps() -> CapTable {
        let cap = |slot, kind, rights, object| CapDesc {
            slot,
            kind,
            rights,
            object,
            badge: 0,
        };
        CapTable::from_descs(
            [
                cap(0, ObjectKind::Endpoint, rights::RECV, 4),
                cap(1, ObjectKind::Endpoint, rights::CALL, 5),
                cap(2, ObjectKind::Notification, rights::WAIT, 6),
                cap(3, ObjectKind::Notification, rights::SIGNAL, 7),
            ]
            .into_iter(),
        )
    }

    #[test]
    fn windows_are_named_by_a_served_endpoint_and_a_badge() {
        let caps = caps();
        let windows = [(5, 0x100), (4, 0x100), (4, 0x101)];
        assert_eq!(named_window(&caps, 0, 0x101, windows), Ok(2));
        assert_eq!(named_window(&caps, 0, 0x100, windows), Ok(1));
        // No window behind it with that badge.
        assert_eq!(
            named_window(&caps, 0, 0x102, windows),
            Err(Error::NotPresent)
        );
        // Empty slot, out of range, wrong kind, calling instead of serving.
        assert_eq!(
            named_window(&caps, 9, 0x100, windows),
            Err(Error::BadCapability)
        );
        assert_eq!(
            named_window(&caps, u64::MAX, 0x100, windows),
            Err(Error::BadCapability)
        );
        assert_eq!(
            named_window(&caps, 2, 0x100, windows),
            Err(Error::BadCapability)
        );
        assert_eq!(
            named_window(&caps, 1, 0x100, windows),
            Err(Error::MissingRight)
        );
    }

    #[test]
    fn the_wake_notification_needs_the_wait_right() {
        let caps = caps();
        assert_eq!(
            named_wake(&caps, 99, 0),
            Ok(None),
            "no bits: no notification"
        );
        assert_eq!(
            named_wake(&caps, 2, 0b100),
            Ok(Some(Wake {
                notification: 6,
                bits: 0b100
            }))
        );
        assert_eq!(named_wake(&caps, 3, 1), Err(Error::MissingRight));
        assert_eq!(named_wake(&caps, 0, 1), Err(Error::BadCapability));
        assert_eq!(named_wake(&caps, 9, 1), Err(Error::BadCapability));
    }
}
