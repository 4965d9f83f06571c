//! Structural check of a flattened device tree before the `fdt` crate reads it.
//!
//! `fdt` 0.1.5 trusts its input: it slices and unwraps on header offsets,
//! property lengths and string offsets, so a corrupt blob would panic the core.
//! This pass reads every header field and token once, with bounds checks, and
//! accepts only blobs on which every `fdt` call the core makes is panic-free.
//! Format: Devicetree Specification v0.4, chapter 5 "Flattened Devicetree (DTB)
//! Format".

/// `magic`, the first header word.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the version-17 header: ten big-endian words.
const HEADER_LEN: usize = 40;
/// The format version this reader understands (and 16, its predecessor, lacks
/// `size_dt_struct`).
const SUPPORTED_VERSION: u32 = 17;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Deepest node nesting accepted, the root being depth 1. Real trees nest 5 or 6
/// deep; the bound keeps the recursive walks in `tree` within a small stack.
pub const MAX_DEPTH: usize = 16;

/// What is wrong with a blob, as a phrase that completes "the device tree ...".
pub type Malformation = &'static str;

/// Reads the big-endian word at `offset`, if it is inside `bytes`.
fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let word = bytes.get(offset..end)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

/// Reads the big-endian double word at `offset`, if it is inside `bytes`.
pub fn be64(bytes: &[u8], offset: usize) -> Option<u64> {
    let high = be32(bytes, offset)?;
    let low = be32(bytes, offset.checked_add(4)?)?;
    Some(u64::from(high) << 32 | u64::from(low))
}

/// The `[offset, offset + len)` slice of `bytes`, if it lies inside.
fn sub(bytes: &[u8], offset: u32, len: u32) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

/// The `[offset, offset + len)` slice of `bytes`, writable, if it lies inside.
fn sub_mut(bytes: &mut [u8], offset: u32, len: u32) -> Option<&mut [u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get_mut(start..end)
}

/// Rounds a structure-block offset up to the next token boundary.
fn align4(offset: usize) -> Option<usize> {
    offset.checked_add(3).map(|o| o & !3)
}

/// A NUL-terminated UTF-8 string starting at `offset`; returns its length
/// without the terminator.
fn c_string(bytes: &[u8], offset: usize) -> Result<usize, Malformation> {
    let rest = bytes
        .get(offset..)
        .ok_or("has a string outside its block")?;
    let len = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or("has an unterminated string")?;
    core::str::from_utf8(&rest[..len]).map_err(|_| "has a name that is not UTF-8")?;
    Ok(len)
}

/// A blob whose header and block bounds are sound.
struct Blocks<'a> {
    /// The blob proper (`totalsize` bytes).
    bytes: &'a [u8],
    /// The structure block.
    structure: &'a [u8],
    /// The strings block.
    strings: &'a [u8],
}

/// Checks the header, the block bounds and the reservation block of `dtb`.
fn check_header(dtb: &[u8]) -> Result<Blocks<'_>, Malformation> {
    let word = |index: usize| be32(dtb, index * 4).ok_or("is shorter than its header");
    if word(0)? != FDT_MAGIC {
        return Err("does not start with the FDT magic 0xd00dfeed");
    }
    let total_size = word(1)?;
    let off_struct = word(2)?;
    let off_strings = word(3)?;
    let off_mem_rsvmap = word(4)?;
    let version = word(5)?;
    let last_compatible = word(6)?;
    let size_strings = word(8)?;
    let size_struct = word(9)?;

    if version < SUPPORTED_VERSION || last_compatible > SUPPORTED_VERSION {
        return Err("uses a format version other than 17");
    }
    let blob = usize::try_from(total_size)
        .ok()
        .filter(|&size| size >= HEADER_LEN)
        .and_then(|size| dtb.get(..size))
        .ok_or("is cut short (its totalsize is larger than the data)")?;

    if off_struct % 4 != 0 {
        return Err("has a misaligned structure block");
    }
    let structure =
        sub(blob, off_struct, size_struct).ok_or("has a structure block outside the blob")?;
    let strings =
        sub(blob, off_strings, size_strings).ok_or("has a strings block outside the blob")?;
    check_reservations(blob, off_mem_rsvmap)?;
    Ok(Blocks {
        bytes: blob,
        structure,
        strings,
    })
}

/// Checks `dtb` and returns the blob proper (`totalsize` bytes; loaders may
/// pass more).
pub fn check(dtb: &[u8]) -> Result<&[u8], Malformation> {
    let blob = check_header(dtb)?;
    check_structure(blob.structure, blob.strings, Nops::Refused)?;
    Ok(blob.bytes)
}

/// The memory reservation block: 16-byte (address, size) pairs ending with a
/// pair of zeros, all inside the blob.
fn check_reservations(blob: &[u8], offset: u32) -> Result<(), Malformation> {
    let mut at = usize::try_from(offset).map_err(|_| "has a reservation block outside the blob")?;
    if at % 8 != 0 || at < HEADER_LEN {
        return Err("has a misplaced memory reservation block");
    }
    loop {
        let address = be64(blob, at).ok_or("has an unterminated memory reservation block")?;
        let size = be64(blob, at + 8).ok_or("has an unterminated memory reservation block")?;
        if address == 0 && size == 0 {
            return Ok(());
        }
        at += 16;
    }
}

/// Whether a structure block may hold `FDT_NOP` tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nops {
    /// Refused: what the `fdt` crate reads must have none.
    Refused,
    /// Skipped: [`remove_nops`] checks a blob before taking them out.
    Allowed,
}

/// The structure block: one root node, balanced, every name and property inside
/// its block, properties before subnodes, ending with `FDT_END`.
fn check_structure(structure: &[u8], strings: &[u8], nops: Nops) -> Result<(), Malformation> {
    let mut at = 0;
    let mut depth = 0usize;
    let mut root_done = false;
    // Properties may follow a node's name but not one of its subnodes: `fdt`
    // stops reading properties at the first non-property token.
    let mut properties_allowed = false;
    loop {
        let token =
            be32(structure, at).ok_or("has a structure block that does not end with FDT_END")?;
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                if root_done || (depth == 0 && at != 4 && nops == Nops::Refused) {
                    return Err("has more than one root node");
                }
                let name_len = c_string(structure, at)?;
                if depth == 0 && name_len != 0 {
                    return Err("has a root node with a name");
                }
                at = align4(at + name_len + 1).ok_or("is too large")?;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err("nests nodes deeper than 16 levels");
                }
                properties_allowed = true;
            }
            FDT_END_NODE => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("closes a node it never opened")?;
                root_done = depth == 0;
                properties_allowed = false;
            }
            FDT_PROP => {
                if depth == 0 || !properties_allowed {
                    return Err("has a property outside a node or after a subnode");
                }
                let len = be32(structure, at).ok_or("has a truncated property")?;
                let name_offset = be32(structure, at + 4).ok_or("has a truncated property")?;
                at += 8;
                let len = usize::try_from(len).map_err(|_| "has a truncated property")?;
                let value = at
                    .checked_add(len)
                    .and_then(|end| structure.get(at..end))
                    .ok_or("has a property value that runs past its block")?;
                let name_offset =
                    usize::try_from(name_offset).map_err(|_| "has a bad property name")?;
                let name_len = c_string(strings, name_offset)?;
                let name = strings
                    .get(name_offset..name_offset + name_len)
                    .unwrap_or_default();
                // `fdt` reads these as a whole cell and panics if it is short.
                if (name == b"#address-cells" || name == b"#size-cells") && value.len() != 4 {
                    return Err("has a #address-cells or #size-cells that is not one cell");
                }
                at = align4(at + len).ok_or("is too large")?;
            }
            FDT_NOP if nops == Nops::Allowed => {}
            FDT_NOP => {
                // `fdt` skips NOPs in only some positions and panics on others.
                return Err(
                    "contains FDT_NOP tokens, which Bulkhead does not accept (repack it with dtc)",
                );
            }
            FDT_END => {
                if !root_done || depth != 0 {
                    return Err("ends before its root node is closed");
                }
                return Ok(());
            }
            _ => return Err("has an unknown token in its structure block"),
        }
    }
}

/// The end of the token that starts at `at` in a structure block that
/// [`check_structure`] accepted (so every read is in bounds; `None` only if
/// that promise is broken).
fn token_end(structure: &[u8], at: usize) -> Option<usize> {
    let body = at.checked_add(4)?;
    match be32(structure, at)? {
        FDT_BEGIN_NODE => {
            let name_len = structure.get(body..)?.iter().position(|&b| b == 0)?;
            align4(body + name_len + 1)
        }
        FDT_PROP => {
            let len = usize::try_from(be32(structure, body)?).ok()?;
            align4(body.checked_add(8)?.checked_add(len)?)
        }
        _ => Some(body),
    }
}

/// Takes every `FDT_NOP` token out of the blob at the start of `dtb`, in
/// place, and shrinks the header's `size_dt_struct` to match; returns the
/// number of tokens removed.
///
/// Firmware that edits a tree with libfdt leaves NOPs where it deleted
/// something (`fdt_nop_node`, `fdt_nop_property`): QEMU `raspi4b` does so for
/// the devices it does not model, and the Raspberry Pi firmware edits the tree
/// it passes as well. The `fdt` crate mishandles NOPs, so the core calls this
/// on the tree it is given before reading it. Every
/// token is 4-byte aligned and a NOP is one word, so moving the other tokens
/// down keeps them aligned; the strings block stays where it is and the gap
/// before it is allowed (Devicetree Specification v0.4 §5.1: the header gives
/// each block's offset).
pub fn remove_nops(dtb: &mut [u8]) -> Result<usize, Malformation> {
    let blob_len = {
        let blob = check_header(dtb)?;
        check_structure(blob.structure, blob.strings, Nops::Allowed)?;
        blob.bytes.len()
    };
    let word = |bytes: &[u8], index: usize| be32(bytes, index * 4).unwrap_or_default();
    let off_struct = word(dtb, 2);
    let size_struct = word(dtb, 9);
    let structure = dtb
        .get_mut(..blob_len)
        .and_then(|blob| sub_mut(blob, off_struct, size_struct))
        .ok_or("has a structure block outside the blob")?;
    let mut read = 0;
    let mut write = 0;
    let mut removed = 0;
    loop {
        let token = be32(structure, read).ok_or("changed while it was compacted")?;
        let end = token_end(structure, read).ok_or("changed while it was compacted")?;
        if token == FDT_NOP {
            removed += 1;
        } else {
            structure.copy_within(read..end, write);
            write += end - read;
        }
        read = end;
        if token == FDT_END {
            break;
        }
    }
    let new_size = u32::try_from(write).map_err(|_| "is too large")?;
    if let Some(field) = dtb.get_mut(36..40) {
        field.copy_from_slice(&new_size.to_be_bytes());
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A hand-built blob: header, empty reservation block, structure, strings.
    fn blob(structure: &[u32], strings: &[u8]) -> [u8; 256] {
        let mut out = [0u8; 256];
        let struct_off = 56usize;
        let struct_len = structure.len() * 4;
        let strings_off = struct_off + struct_len;
        let header = [
            FDT_MAGIC,
            256,
            struct_off as u32,
            strings_off as u32,
            40,
            17,
            16,
            0,
            strings.len() as u32,
            struct_len as u32,
        ];
        for (i, word) in header.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
        }
        for (i, word) in structure.iter().enumerate() {
            let at = struct_off + i * 4;
            out[at..at + 4].copy_from_slice(&word.to_be_bytes());
        }
        out[strings_off..strings_off + strings.len()].copy_from_slice(strings);
        out
    }

    const STRINGS: &[u8] = b"#address-cells\0";

    #[test]
    fn minimal_tree_passes() {
        let b = blob(
            &[FDT_BEGIN_NODE, 0, FDT_PROP, 4, 0, 2, FDT_END_NODE, FDT_END],
            STRINGS,
        );
        assert_eq!(check(&b).map(|blob| blob.len()), Ok(256));
    }

    #[test]
    fn structural_errors_are_named() {
        let cases: &[(&[u32], &str)] = &[
            (
                &[FDT_BEGIN_NODE, 0, FDT_END_NODE],
                "does not end with FDT_END",
            ),
            (
                &[FDT_BEGIN_NODE, 0, FDT_END],
                "ends before its root node is closed",
            ),
            (&[FDT_END_NODE, FDT_END], "closes a node it never opened"),
            (&[FDT_PROP, 4, 0, 2, FDT_END], "outside a node"),
            (
                &[FDT_BEGIN_NODE, 0, FDT_NOP, FDT_END_NODE, FDT_END],
                "FDT_NOP",
            ),
            (
                &[FDT_BEGIN_NODE, 0, 7, FDT_END_NODE, FDT_END],
                "unknown token",
            ),
            (
                &[FDT_BEGIN_NODE, 0, FDT_PROP, 400, 0, FDT_END_NODE, FDT_END],
                "runs past",
            ),
            (
                &[FDT_BEGIN_NODE, 0, FDT_PROP, 0, 99, FDT_END_NODE, FDT_END],
                "outside its block",
            ),
            (
                &[FDT_BEGIN_NODE, 0, FDT_PROP, 2, 0, 0, FDT_END_NODE, FDT_END],
                "not one cell",
            ),
            (
                &[
                    FDT_BEGIN_NODE,
                    0,
                    FDT_END_NODE,
                    FDT_BEGIN_NODE,
                    0,
                    FDT_END_NODE,
                    FDT_END,
                ],
                "more than one root",
            ),
            (
                &[FDT_BEGIN_NODE, 0x6100_0000, FDT_END_NODE, FDT_END],
                "root node with a name",
            ),
            (
                &[
                    FDT_BEGIN_NODE,
                    0,
                    FDT_BEGIN_NODE,
                    0x6100_0000,
                    FDT_END_NODE,
                    FDT_PROP,
                    4,
                    0,
                    2,
                    FDT_END_NODE,
                    FDT_END,
                ],
                "after a subnode",
            ),
            (
                &[FDT_BEGIN_NODE, 0, FDT_BEGIN_NODE, 0x6162_6364, 0x6566_6768],
                "unterminated string",
            ),
            (
                &[
                    FDT_BEGIN_NODE,
                    0,
                    FDT_BEGIN_NODE,
                    0xff00_0000,
                    FDT_END_NODE,
                    FDT_END_NODE,
                    FDT_END,
                ],
                "not UTF-8",
            ),
        ];
        for (structure, expected) in cases {
            let b = blob(structure, STRINGS);
            let error = check(&b).expect_err(expected);
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn nops_are_removed_in_place() {
        // NOPs before the root, among properties, between and inside
        // subnodes, and before FDT_END, as libfdt's fdt_nop_node leaves them.
        let with_nops = [
            FDT_NOP,
            FDT_BEGIN_NODE,
            0,
            FDT_NOP,
            FDT_PROP,
            4,
            0,
            2,
            FDT_NOP,
            FDT_NOP,
            FDT_BEGIN_NODE,
            0x6100_0000,
            FDT_NOP,
            FDT_END_NODE,
            FDT_NOP,
            FDT_END_NODE,
            FDT_NOP,
            FDT_END,
        ];
        let without = [
            FDT_BEGIN_NODE,
            0,
            FDT_PROP,
            4,
            0,
            2,
            FDT_BEGIN_NODE,
            0x6100_0000,
            FDT_END_NODE,
            FDT_END_NODE,
            FDT_END,
        ];
        let mut b = blob(&with_nops, STRINGS);
        assert!(check(&b).unwrap_err().contains("FDT_NOP"));
        assert_eq!(remove_nops(&mut b), Ok(7));
        let expected = blob(&without, STRINGS);
        let structure = |bytes: &[u8]| {
            let blocks = check_header(bytes).unwrap();
            blocks.structure.to_vec()
        };
        assert_eq!(structure(&b), structure(&expected));
        assert!(check(&b).is_ok());
        // The strings block did not move; a second pass finds nothing.
        assert_eq!(b[12..16], blob(&with_nops, STRINGS)[12..16]);
        assert_eq!(remove_nops(&mut b), Ok(0));
    }

    #[test]
    fn nop_removal_checks_the_blob_first() {
        let mut unbalanced = blob(&[FDT_BEGIN_NODE, 0, FDT_NOP, FDT_END], STRINGS);
        let before = unbalanced;
        assert_eq!(
            remove_nops(&mut unbalanced),
            Err("ends before its root node is closed")
        );
        assert_eq!(unbalanced, before, "a refused blob is left as it was");
        let mut short = [0u8; 16];
        assert_eq!(
            remove_nops(&mut short),
            Err("does not start with the FDT magic 0xd00dfeed")
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut structure = [0u32; 2 * (MAX_DEPTH + 1) + 2 * (MAX_DEPTH + 1) + 1];
        let mut i = 0;
        for level in 0..=MAX_DEPTH {
            structure[i] = FDT_BEGIN_NODE;
            structure[i + 1] = if level == 0 { 0 } else { 0x6100_0000 };
            i += 2;
        }
        for _ in 0..=MAX_DEPTH {
            structure[i] = FDT_END_NODE;
            i += 1;
        }
        structure[i] = FDT_END;
        let words = &structure[..=i];
        let mut out = [0u8; 512];
        let b = blob(&[FDT_BEGIN_NODE, 0, FDT_END_NODE, FDT_END], STRINGS);
        out[..256].copy_from_slice(&b);
        // Rewrite the structure block with the deep one and fix the header.
        let struct_off = 56;
        for (n, word) in words.iter().enumerate() {
            out[struct_off + n * 4..struct_off + n * 4 + 4].copy_from_slice(&word.to_be_bytes());
        }
        let strings_off = struct_off + words.len() * 4;
        out[4..8].copy_from_slice(&512u32.to_be_bytes());
        out[12..16].copy_from_slice(&(strings_off as u32).to_be_bytes());
        out[32..36].copy_from_slice(&0u32.to_be_bytes());
        out[36..40].copy_from_slice(&((words.len() * 4) as u32).to_be_bytes());
        assert_eq!(check(&out), Err("nests nodes deeper than 16 levels"));
    }

    #[test]
    fn header_errors_are_named() {
        let good = blob(&[FDT_BEGIN_NODE, 0, FDT_END_NODE, FDT_END], STRINGS);
        assert!(check(&good).is_ok());
        assert_eq!(check(&good[..20]), Err("is shorter than its header"));
        assert_eq!(
            check(&good[..100]),
            Err("is cut short (its totalsize is larger than the data)")
        );

        let patched = |word: usize, value: u32| {
            let mut b = good;
            b[word * 4..word * 4 + 4].copy_from_slice(&value.to_be_bytes());
            check(&b).err()
        };
        assert_eq!(
            patched(0, 0xfeed_d00d),
            Some("does not start with the FDT magic 0xd00dfeed")
        );
        assert_eq!(
            patched(1, 8),
            Some("is cut short (its totalsize is larger than the data)")
        );
        assert_eq!(
            patched(2, 252),
            Some("has a structure block outside the blob")
        );
        assert_eq!(patched(2, 58), Some("has a misaligned structure block"));
        assert_eq!(
            patched(3, u32::MAX),
            Some("has a strings block outside the blob")
        );
        assert_eq!(
            patched(4, 44),
            Some("has a misplaced memory reservation block")
        );
        assert_eq!(
            patched(4, 248),
            Some("has an unterminated memory reservation block")
        );
        assert_eq!(patched(5, 16), Some("uses a format version other than 17"));
        assert_eq!(patched(6, 18), Some("uses a format version other than 17"));
        assert_eq!(
            patched(9, u32::MAX),
            Some("has a structure block outside the blob")
        );
    }
}
