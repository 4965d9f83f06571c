//! Reading a checked device tree: nodes together with their ancestors, `reg`
//! translated through every parent bus's `ranges` to CPU physical addresses,
//! and GIC interrupt specifiers turned into INTIDs.
//!
//! `fdt` 0.1.5 gives a node its properties and children but not its parents,
//! and its `reg()` ignores `ranges`; on the Raspberry Pi every device address is
//! a VideoCore bus address that only `/soc`'s `ranges` turns into a CPU address.
//! References: Devicetree Specification v0.4, §2.3.5-2.3.8 (`#address-cells`,
//! `#size-cells`, `reg`, `ranges`), §2.4 (interrupts); the Linux bindings
//! `arm,gic.yaml` and `arm,gic-v3.yaml` for the interrupt specifier.

use fdt::node::FdtNode;
use fdt::Fdt;

use super::blob::MAX_DEPTH;
use super::{MachineError, MemRange, NodeName};

/// A node and the path of nodes from the root down to its parent.
#[derive(Clone, Copy)]
pub struct Located<'b, 'a> {
    node: FdtNode<'b, 'a>,
    /// `ancestors[0]` is the root, `ancestors[depth - 1]` the parent.
    ancestors: [Option<FdtNode<'b, 'a>>; MAX_DEPTH],
    depth: usize,
}

impl<'b, 'a> Located<'b, 'a> {
    /// The root node. The blob check guarantees there is one.
    pub fn root(fdt: &'b Fdt<'a>) -> Option<Self> {
        let node = fdt.find_node("/")?;
        Some(Self {
            node,
            ancestors: [None; MAX_DEPTH],
            depth: 0,
        })
    }

    /// The node itself.
    pub fn node(&self) -> FdtNode<'b, 'a> {
        self.node
    }

    /// The parent node; `None` for the root.
    pub fn parent(&self) -> Option<FdtNode<'b, 'a>> {
        self.ancestor(self.depth.checked_sub(1)?)
    }

    fn ancestor(&self, index: usize) -> Option<FdtNode<'b, 'a>> {
        self.ancestors.get(index).copied().flatten()
    }

    /// Moves to `child`; false if that would exceed the checked depth bound.
    fn descend(&mut self, child: FdtNode<'b, 'a>) -> bool {
        match self.ancestors.get_mut(self.depth) {
            Some(slot) => {
                *slot = Some(self.node);
                self.depth += 1;
                self.node = child;
                true
            }
            None => false,
        }
    }

    /// Moves back to the parent.
    fn ascend(&mut self) {
        if let Some(parent) = self
            .depth
            .checked_sub(1)
            .and_then(|d| self.ancestors.get_mut(d))
        {
            if let Some(node) = parent.take() {
                self.node = node;
                self.depth -= 1;
            }
        }
    }

    /// This node's child `child`, located.
    pub fn child(&self, child: FdtNode<'b, 'a>) -> Option<Self> {
        let mut located = *self;
        located.descend(child).then_some(located)
    }

    /// The full path, for error messages.
    pub fn name(&self) -> NodeName {
        let mut name = NodeName::default();
        for index in 1..self.depth {
            if let Some(node) = self.ancestor(index) {
                name.push('/');
                name.push_str(node.name);
            }
        }
        name.push('/');
        if self.depth > 0 {
            name.push_str(self.node.name);
        }
        name
    }

    /// Whether the node is in use: no `status`, or `"okay"` / `"ok"`.
    pub fn is_enabled(&self) -> bool {
        status_is_okay(self.node)
    }

    /// Whether any of the node's `compatible` strings is in `with`.
    pub fn is_compatible(&self, with: &[&str]) -> bool {
        self.node
            .compatible()
            .is_some_and(|c| c.all().any(|s| with.contains(&s)))
    }

    /// A string property, without its terminating NUL.
    pub fn str_property(&self, name: &str) -> Option<&'a str> {
        self.node.property(name).and_then(|p| p.as_str())
    }

    /// A one-cell property; an error if present with another length.
    pub fn u32_property(&self, name: &'static str) -> Result<Option<u32>, MachineError> {
        match self.node.property(name) {
            None => Ok(None),
            Some(p) => {
                Cells::new(p.value)
                    .exactly_one()
                    .map(Some)
                    .ok_or(MachineError::BadProperty {
                        node: self.name(),
                        property: name,
                    })
            }
        }
    }

    /// Calls `visit` on each raw `reg` entry (address, size) in the parent
    /// bus's address space until it returns `false`.
    fn for_each_raw_reg(
        &self,
        mut visit: impl FnMut(u64, u64) -> Result<bool, MachineError>,
    ) -> Result<(), MachineError> {
        let bad_reg = || MachineError::BadReg { node: self.name() };
        let parent = self.parent().ok_or_else(bad_reg)?;
        let cells = parent.cell_sizes();
        let Some(reg) = self.node.property("reg") else {
            return Ok(());
        };
        let mut values = Cells::new(reg.value);
        while !values.is_empty() {
            let address = values.take(cells.address_cells).ok_or_else(bad_reg)?;
            let size = values.take(cells.size_cells).ok_or_else(bad_reg)?;
            if !visit(address, size)? {
                break;
            }
        }
        Ok(())
    }

    /// Calls `visit` on each `reg` entry, translated to a CPU physical range.
    /// Zero-sized entries are skipped: firmware leaves placeholders like that
    /// (the Pi's stock `/memory` is `<0 0 0>` until the loader fills it in).
    pub fn for_each_reg(
        &self,
        mut visit: impl FnMut(MemRange) -> Result<(), MachineError>,
    ) -> Result<(), MachineError> {
        self.for_each_raw_reg(|address, size| {
            if size != 0 {
                visit(MemRange {
                    base: self.translate(address, size)?,
                    size,
                })?;
            }
            Ok(true)
        })
    }

    /// `reg` entry `index`, translated; `None` if there are fewer entries or
    /// that one is zero-sized.
    pub fn reg(&self, index: usize) -> Result<Option<MemRange>, MachineError> {
        let mut position = 0;
        let mut found = None;
        self.for_each_raw_reg(|address, size| {
            if position == index {
                if size != 0 {
                    found = Some(MemRange {
                        base: self.translate(address, size)?,
                        size,
                    });
                }
                return Ok(false);
            }
            position += 1;
            Ok(true)
        })?;
        Ok(found)
    }

    /// Translates `[address, address + size)` from the parent bus's address
    /// space up through each ancestor's `ranges` to the root's, the CPU's
    /// physical address space. An ancestor without `ranges` is not
    /// memory-mapped (a CPU list, an I2C bus): nothing under it can be.
    fn translate(&self, address: u64, size: u64) -> Result<u64, MachineError> {
        let mut address = address;
        // Buses from the parent upwards; the root needs no translation.
        for bus_index in (1..self.depth).rev() {
            let (Some(bus), Some(bus_parent)) =
                (self.ancestor(bus_index), self.ancestor(bus_index - 1))
            else {
                return Err(MachineError::BadReg { node: self.name() });
            };
            address = translate_through(bus, bus_parent, address, size)
                .map_err(|kind| kind.for_node(self.name()))?;
        }
        Ok(address)
    }

    /// The phandle other nodes refer to this one by.
    pub fn phandle(&self) -> Option<u32> {
        phandle_of(self.node)
    }
}

/// Why an address could not be translated through one bus.
enum TranslationFailure {
    /// The bus's `ranges` is malformed.
    BadRanges,
    /// No `ranges`, or no range covers the address.
    NotMapped,
}

impl TranslationFailure {
    fn for_node(self, node: NodeName) -> MachineError {
        match self {
            Self::BadRanges => MachineError::BadProperty {
                node,
                property: "ranges",
            },
            Self::NotMapped => MachineError::Untranslatable { node },
        }
    }
}

/// One step of address translation: from `bus`'s child address space into
/// `bus_parent`'s, through `bus`'s `ranges` (child address, parent address,
/// length; empty `ranges` is the identity).
fn translate_through(
    bus: FdtNode<'_, '_>,
    bus_parent: FdtNode<'_, '_>,
    address: u64,
    size: u64,
) -> Result<u64, TranslationFailure> {
    let ranges = bus
        .property("ranges")
        .ok_or(TranslationFailure::NotMapped)?;
    if ranges.value.is_empty() {
        return Ok(address);
    }
    let child_cells = bus.cell_sizes();
    let parent_address_cells = bus_parent.cell_sizes().address_cells;
    let mut entries = Cells::new(ranges.value);
    while !entries.is_empty() {
        let child_base = entries
            .take(child_cells.address_cells)
            .ok_or(TranslationFailure::BadRanges)?;
        let parent_base = entries
            .take(parent_address_cells)
            .ok_or(TranslationFailure::BadRanges)?;
        let length = entries
            .take(child_cells.size_cells)
            .ok_or(TranslationFailure::BadRanges)?;
        let Some(offset) = address.checked_sub(child_base) else {
            continue;
        };
        if offset.checked_add(size).is_some_and(|end| end <= length) {
            return parent_base
                .checked_add(offset)
                .ok_or(TranslationFailure::BadRanges);
        }
    }
    Err(TranslationFailure::NotMapped)
}

fn status_is_okay(node: FdtNode<'_, '_>) -> bool {
    match node.property("status").and_then(|p| p.as_str()) {
        None => true,
        Some(status) => status == "okay" || status == "ok",
    }
}

fn phandle_of(node: FdtNode<'_, '_>) -> Option<u32> {
    node.property("phandle")
        .or_else(|| node.property("linux,phandle"))
        .and_then(|p| Cells::new(p.value).exactly_one())
}

/// The first node, in depth-first order, for which `matches` holds.
pub fn find<'b, 'a>(
    fdt: &'b Fdt<'a>,
    mut matches: impl FnMut(&Located<'b, 'a>) -> bool,
) -> Option<Located<'b, 'a>> {
    let mut at = Located::root(fdt)?;
    search(&mut at, &mut matches).then_some(at)
}

/// Depth-first search that moves one shared [`Located`] down and up, so each
/// level of recursion costs only a child iterator. Depth is bounded by the
/// blob check.
fn search<'b, 'a>(
    at: &mut Located<'b, 'a>,
    matches: &mut impl FnMut(&Located<'b, 'a>) -> bool,
) -> bool {
    if matches(at) {
        return true;
    }
    for child in at.node.children() {
        if !at.descend(child) {
            continue;
        }
        if search(at, matches) {
            return true;
        }
        at.ascend();
    }
    false
}

/// The node at an absolute path such as `/soc/serial@7e201000`. A component
/// without a unit address matches a node whose name before `@` is equal.
pub fn find_path<'b, 'a>(fdt: &'b Fdt<'a>, path: &str) -> Option<Located<'b, 'a>> {
    let mut at = Located::root(fdt)?;
    for component in path.split('/').filter(|c| !c.is_empty()) {
        let child = at.node.children().find(|child| {
            child.name == component
                || (!component.contains('@') && child.name.split('@').next() == Some(component))
        })?;
        at = at.child(child)?;
    }
    Some(at)
}

/// The node `stdout-path` (or `linux,stdout-path`) in `/chosen` names: a path,
/// or an alias from `/aliases`, optionally followed by `:options`.
pub fn find_stdout<'b, 'a>(fdt: &'b Fdt<'a>) -> Option<Located<'b, 'a>> {
    let chosen = find_path(fdt, "/chosen")?;
    let value = chosen
        .str_property("stdout-path")
        .or_else(|| chosen.str_property("linux,stdout-path"))?;
    let target = value.split(':').next()?;
    if target.starts_with('/') {
        return find_path(fdt, target);
    }
    let aliases = find_path(fdt, "/aliases")?;
    let path = aliases.str_property(target)?;
    path.starts_with('/')
        .then(|| find_path(fdt, path))
        .flatten()
}

/// The interrupt controller that interrupt specifiers are decoded for.
#[derive(Clone, Copy)]
pub struct InterruptController {
    /// Its phandle; without one, nothing can name it as a parent.
    pub phandle: Option<u32>,
    /// Its `#interrupt-cells`.
    pub cells: usize,
}

/// INTID of the interrupt a GIC specifier describes (type, number, flags):
/// SPI n is INTID 32 + n, PPI n is 16 + n; with GICv3, extended SPI n is
/// 4096 + n and extended PPI n is 1056 + n.
fn gic_intid(specifier: &[u32]) -> Option<u32> {
    let (&kind, &number) = (specifier.first()?, specifier.get(1)?);
    match kind {
        0 if number < 988 => Some(32 + number),
        1 if number < 16 => Some(16 + number),
        2 if number < 1024 => Some(4096 + number),
        3 if number < 64 => Some(1056 + number),
        _ => None,
    }
}

/// Most cells an interrupt specifier may have (GICv3 uses 3 or 4).
const MAX_INTERRUPT_CELLS: usize = 4;

impl<'b, 'a> Located<'b, 'a> {
    /// The INTID of the node's `index`-th interrupt if it goes to `gic`;
    /// `None` if the node has no such interrupt or it is wired to another
    /// controller. Both `interrupts` (with the inherited `interrupt-parent`)
    /// and `interrupts-extended` are read.
    pub fn gic_interrupt(
        &self,
        fdt: &'b Fdt<'a>,
        gic: InterruptController,
        index: usize,
    ) -> Result<Option<u32>, MachineError> {
        let bad = || MachineError::BadProperty {
            node: self.name(),
            property: "interrupts",
        };
        let mut specifier = [0u32; MAX_INTERRUPT_CELLS];

        if let Some(extended) = self.node.property("interrupts-extended") {
            let mut values = Cells::new(extended.value);
            let mut position = 0;
            while !values.is_empty() {
                let phandle = values.next_u32().ok_or_else(bad)?;
                let is_gic = gic.phandle == Some(phandle);
                let cells = if is_gic {
                    gic.cells
                } else {
                    fdt.find_phandle(phandle)
                        .and_then(|c| c.interrupt_cells())
                        .ok_or_else(bad)?
                };
                let spec = values.take_u32s(cells, &mut specifier).ok_or_else(bad)?;
                if position == index {
                    return if is_gic {
                        gic_intid(spec).map(Some).ok_or_else(bad)
                    } else {
                        Ok(None)
                    };
                }
                position += 1;
            }
            return Ok(None);
        }

        let Some(interrupts) = self.node.property("interrupts") else {
            return Ok(None);
        };
        if self.interrupt_parent() != gic.phandle || gic.phandle.is_none() {
            return Ok(None);
        }
        let mut values = Cells::new(interrupts.value);
        let mut position = 0;
        while !values.is_empty() {
            let spec = values
                .take_u32s(gic.cells, &mut specifier)
                .ok_or_else(bad)?;
            if position == index {
                return gic_intid(spec).map(Some).ok_or_else(bad);
            }
            position += 1;
        }
        Ok(None)
    }

    /// The phandle of the node's interrupt parent: its own `interrupt-parent`,
    /// else the nearest ancestor's, stopping at a tree parent that is itself an
    /// interrupt controller (Devicetree Specification §2.4.1; Linux
    /// `of_irq_find_parent`).
    fn interrupt_parent(&self) -> Option<u32> {
        let explicit = |node: FdtNode<'_, '_>| {
            node.property("interrupt-parent")
                .and_then(|p| Cells::new(p.value).exactly_one())
        };
        if let Some(phandle) = explicit(self.node) {
            return Some(phandle);
        }
        for index in (0..self.depth).rev() {
            let ancestor = self.ancestor(index)?;
            if ancestor.property("#interrupt-cells").is_some() {
                return phandle_of(ancestor);
            }
            if let Some(phandle) = explicit(ancestor) {
                return Some(phandle);
            }
        }
        None
    }
}

/// A reader of big-endian 32-bit cells.
struct Cells<'a> {
    bytes: &'a [u8],
}

impl<'a> Cells<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn next_u32(&mut self) -> Option<u32> {
        let (word, rest) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = rest;
        Some(u32::from_be_bytes(*word))
    }

    /// A number of `count` cells (0, 1 or 2; more does not fit 64 bits).
    fn take(&mut self, count: usize) -> Option<u64> {
        match count {
            0 => Some(0),
            1 => self.next_u32().map(u64::from),
            2 => {
                let high = self.next_u32()?;
                let low = self.next_u32()?;
                Some(u64::from(high) << 32 | u64::from(low))
            }
            _ => None,
        }
    }

    /// `count` cells into the front of `out`.
    fn take_u32s<'o>(&mut self, count: usize, out: &'o mut [u32]) -> Option<&'o [u32]> {
        let slots = out.get_mut(..count)?;
        for slot in slots.iter_mut() {
            *slot = self.next_u32()?;
        }
        out.get(..count)
    }

    /// The value if the property is exactly one cell.
    fn exactly_one(mut self) -> Option<u32> {
        let value = self.next_u32()?;
        self.is_empty().then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gic_specifiers_map_to_intids() {
        assert_eq!(gic_intid(&[0, 1, 4]), Some(33));
        assert_eq!(gic_intid(&[0, 121, 4]), Some(153));
        assert_eq!(gic_intid(&[1, 9, 0xf04]), Some(25));
        assert_eq!(gic_intid(&[1, 16, 4]), None);
        assert_eq!(gic_intid(&[0, 988, 4]), None);
        assert_eq!(gic_intid(&[2, 5, 4]), Some(4101));
        assert_eq!(gic_intid(&[3, 2, 4]), Some(1058));
        assert_eq!(gic_intid(&[4, 0, 4]), None);
        assert_eq!(gic_intid(&[0]), None);
    }

    #[test]
    fn cells_read_big_endian_numbers() {
        let bytes = [0, 0, 0, 1, 0, 0, 0, 2, 0xff];
        let mut cells = Cells::new(&bytes);
        assert_eq!(cells.take(2), Some(0x1_0000_0002));
        assert_eq!(cells.take(1), None);
        assert_eq!(Cells::new(&bytes[..4]).take(3), None);
        assert_eq!(Cells::new(&bytes[..4]).exactly_one(), Some(1));
        assert_eq!(Cells::new(&bytes[..8]).exactly_one(), None);
        let mut out = [0; 4];
        assert_eq!(
            Cells::new(&bytes[..8]).take_u32s(2, &mut out),
            Some(&[1, 2][..])
        );
        assert_eq!(Cells::new(&bytes[..8]).take_u32s(3, &mut out), None);
        assert_eq!(Cells::new(&bytes[..8]).take_u32s(5, &mut out), None);
    }
}
