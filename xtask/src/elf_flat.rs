//! Converting ELF executables to flat binaries, the form loaders and the
//! manifest carry: each PT_LOAD segment's file bytes at its physical (load)
//! address relative to the lowest one, gaps zero-filled.
//!
//! Physical addresses (p_paddr) are used rather than virtual ones because the
//! flat file is what gets copied into memory before any MMU is on.

use std::fmt;

use object::elf::{EM_AARCH64, PT_LOAD};
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{LittleEndian, Object, ObjectSymbol};

/// The kernel's linker-script symbol marking the end of its memory footprint
/// (.bss included).
pub const IMAGE_END_SYMBOL: &str = "__image_end";

/// Largest flat image we produce; anything larger means a bogus address in
/// the ELF, and allocating it would only fail later.
pub const MAX_FLAT_IMAGE_BYTES: u64 = 256 << 20;

/// Why an ELF file could not be flattened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlattenError {
    /// Not a little-endian ELF64 file, or its headers are malformed.
    NotElf(String),
    /// An ELF for another architecture.
    WrongMachine {
        /// The `e_machine` found.
        machine: u16,
    },
    /// No PT_LOAD segment with contents.
    NoLoadSegments,
    /// Two segments claim the same physical bytes.
    Overlap {
        /// Physical address of the first segment.
        first: u64,
        /// Physical address of the segment that overlaps it.
        second: u64,
    },
    /// The image would be unreasonably large.
    TooLarge {
        /// Its span in bytes.
        span: u64,
    },
    /// The kernel's lowest segment is not where the board's loader puts it.
    NotAtLoadAddress {
        /// Where the ELF's first PT_LOAD starts.
        found: u64,
        /// The board's kernel load address.
        expected: u64,
    },
    /// A required symbol is missing.
    MissingSymbol(&'static str),
    /// `__image_end` lies before the end of the loaded bytes or outside the
    /// first segment's mapping.
    BadImageEnd {
        /// The symbol's physical address.
        image_end: u64,
    },
}

impl fmt::Display for FlattenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf(why) => write!(f, "not a little-endian 64-bit ELF file ({why})"),
            Self::WrongMachine { machine } => {
                write!(f, "ELF machine is {machine}, expected AArch64 ({EM_AARCH64})")
            }
            Self::NoLoadSegments => write!(f, "the ELF has no loadable segment"),
            Self::Overlap { first, second } => write!(
                f,
                "loadable segments at {first:#x} and {second:#x} overlap"
            ),
            Self::TooLarge { span } => write!(
                f,
                "loadable segments span {span:#x} bytes, more than the {MAX_FLAT_IMAGE_BYTES:#x} an image may have"
            ),
            Self::NotAtLoadAddress { found, expected } => write!(
                f,
                "the kernel's first loadable segment starts at {found:#x} but the board loads the kernel at {expected:#x} (check the kernel's linker script and board feature)"
            ),
            Self::MissingSymbol(name) => write!(f, "the ELF has no symbol `{name}`"),
            Self::BadImageEnd { image_end } => write!(
                f,
                "`{IMAGE_END_SYMBOL}` ({image_end:#x}) does not lie at or after the end of the kernel's loaded bytes"
            ),
        }
    }
}

/// One loadable segment: its file bytes and where they go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment<'data> {
    /// Physical (load) address.
    pub paddr: u64,
    /// Virtual address, which symbols are expressed in.
    pub vaddr: u64,
    /// The bytes stored in the file (p_filesz of them).
    pub file_bytes: &'data [u8],
    /// Size in memory (p_memsz), at least the file size.
    pub mem_size: u64,
}

/// A flat binary and where it must be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatImage {
    /// Physical address of the first byte.
    pub load_address: u64,
    /// The ELF entry point (a virtual address).
    pub entry: u64,
    /// The contents.
    pub bytes: Vec<u8>,
}

/// Lays segments out at their physical addresses relative to the lowest
/// one; returns that lowest address and the bytes. Only file bytes are
/// placed (a trailing .bss adds nothing), gaps between segments are zeros.
pub fn flatten_segments(segments: &[LoadSegment<'_>]) -> Result<(u64, Vec<u8>), FlattenError> {
    let mut sorted: Vec<&LoadSegment<'_>> = segments.iter().filter(|s| s.mem_size > 0).collect();
    sorted.sort_by_key(|s| s.paddr);
    let base = sorted.first().ok_or(FlattenError::NoLoadSegments)?.paddr;
    let mut end = base;
    let mut previous: Option<(u64, u64)> = None;
    for segment in &sorted {
        let mem_end = segment
            .paddr
            .checked_add(segment.mem_size.max(segment.file_bytes.len() as u64))
            .ok_or(FlattenError::TooLarge { span: u64::MAX })?;
        if let Some((prev_start, prev_end)) = previous {
            if segment.paddr < prev_end {
                return Err(FlattenError::Overlap {
                    first: prev_start,
                    second: segment.paddr,
                });
            }
        }
        previous = Some((segment.paddr, mem_end));
        end = end.max(segment.paddr + segment.file_bytes.len() as u64);
    }
    let span = end - base;
    if span > MAX_FLAT_IMAGE_BYTES {
        return Err(FlattenError::TooLarge { span });
    }
    let mut bytes = vec![0u8; span as usize];
    for segment in &sorted {
        let start = (segment.paddr - base) as usize;
        // In bounds: `end` covers every segment's file bytes.
        if let Some(dest) = bytes.get_mut(start..start + segment.file_bytes.len()) {
            dest.copy_from_slice(segment.file_bytes);
        }
    }
    Ok((base, bytes))
}

/// A parsed AArch64 ELF executable.
pub struct ElfExecutable<'data> {
    file: ElfFile64<'data, LittleEndian>,
}

impl<'data> ElfExecutable<'data> {
    /// Parses `data` as a little-endian AArch64 ELF64 file.
    pub fn parse(data: &'data [u8]) -> Result<Self, FlattenError> {
        let file = ElfFile64::<LittleEndian>::parse(data)
            .map_err(|e| FlattenError::NotElf(e.to_string()))?;
        let machine = file.elf_header().e_machine.get(LittleEndian);
        if machine != EM_AARCH64 {
            return Err(FlattenError::WrongMachine { machine });
        }
        Ok(Self { file })
    }

    /// The PT_LOAD segments, in file order.
    pub fn load_segments(&self) -> Result<Vec<LoadSegment<'data>>, FlattenError> {
        let endian = self.file.endian();
        let data = self.file.data();
        self.file
            .elf_program_headers()
            .iter()
            .filter(|ph| ph.p_type(endian) == PT_LOAD)
            .map(|ph| {
                let file_bytes = ph.data(endian, data).map_err(|()| {
                    FlattenError::NotElf("segment data lies outside the file".into())
                })?;
                Ok(LoadSegment {
                    paddr: ph.p_paddr(endian),
                    vaddr: ph.p_vaddr(endian),
                    file_bytes,
                    mem_size: ph.p_memsz(endian),
                })
            })
            .collect()
    }

    /// The value of a symbol.
    pub fn symbol_address(&self, name: &'static str) -> Result<u64, FlattenError> {
        self.file
            .symbol_by_name(name)
            .map(|s| s.address())
            .ok_or(FlattenError::MissingSymbol(name))
    }

    /// The entry point.
    pub fn entry(&self) -> u64 {
        self.file.entry()
    }

    /// A program's flat image: its loadable segments, nothing more.
    pub fn program_image(&self) -> Result<FlatImage, FlattenError> {
        let (load_address, bytes) = flatten_segments(&self.load_segments()?)?;
        Ok(FlatImage {
            load_address,
            entry: self.entry(),
            bytes,
        })
    }

    /// The kernel's flat image: from `kernel_load` (where the board's loader
    /// puts it, which its first segment must match) to `__image_end`, so the
    /// zero-initialised .bss and stacks are part of the file and whatever is
    /// appended after it lands beyond the kernel's memory — exactly at
    /// `__image_end`, which is where the core looks for the manifest.
    pub fn kernel_image(&self, kernel_load: u64) -> Result<FlatImage, FlattenError> {
        let segments = self.load_segments()?;
        let (base, mut bytes) = flatten_segments(&segments)?;
        if base != kernel_load {
            return Err(FlattenError::NotAtLoadAddress {
                found: base,
                expected: kernel_load,
            });
        }
        // The symbol is a virtual address; translate it through the first
        // segment in case the kernel is linked to run elsewhere than it loads.
        let first = segments
            .iter()
            .filter(|s| s.mem_size > 0)
            .min_by_key(|s| s.paddr)
            .ok_or(FlattenError::NoLoadSegments)?;
        let image_end_virt = self.symbol_address(IMAGE_END_SYMBOL)?;
        let image_end = image_end_virt
            .checked_sub(first.vaddr)
            .and_then(|offset| first.paddr.checked_add(offset))
            .ok_or(FlattenError::BadImageEnd {
                image_end: image_end_virt,
            })?;
        let footprint = image_end - base;
        if footprint < bytes.len() as u64 {
            return Err(FlattenError::BadImageEnd { image_end });
        }
        if footprint > MAX_FLAT_IMAGE_BYTES {
            return Err(FlattenError::TooLarge { span: footprint });
        }
        bytes.resize(footprint as usize, 0);
        Ok(FlatImage {
            load_address: base,
            entry: self.entry(),
            bytes,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object::elf::{ET_EXEC, PF_R, SHN_ABS, STB_GLOBAL, STT_NOTYPE};
    use object::write::elf::{FileHeader, ProgramHeader as WriteProgramHeader, Sym, Writer};
    use object::Endianness;

    /// A segment to put into a test ELF.
    pub(crate) struct TestSegment<'a> {
        pub paddr: u64,
        pub vaddr: u64,
        pub data: &'a [u8],
        pub mem_size: u64,
    }

    /// Writes a minimal ELF64 executable with the given PT_LOAD segments and,
    /// optionally, an absolute `__image_end` symbol.
    pub(crate) fn test_elf(
        segments: &[TestSegment<'_>],
        image_end: Option<u64>,
        machine: u16,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(Endianness::Little, true, &mut out);
        w.reserve_file_header();
        w.reserve_program_headers(segments.len() as u32);
        let offsets: Vec<usize> = segments
            .iter()
            .map(|s| w.reserve(s.data.len(), 16))
            .collect();
        let name = w.add_string(IMAGE_END_SYMBOL.as_bytes());
        w.reserve_null_symbol_index();
        w.reserve_symbol_index(None);
        w.reserve_symtab();
        w.reserve_strtab();
        w.reserve_null_section_index();
        w.reserve_symtab_section_index();
        w.reserve_strtab_section_index();
        w.reserve_shstrtab_section_index();
        w.reserve_shstrtab();
        w.reserve_section_headers();

        w.write_file_header(&FileHeader {
            os_abi: 0,
            abi_version: 0,
            e_type: ET_EXEC,
            e_machine: machine,
            e_entry: segments.first().map_or(0, |s| s.vaddr),
            e_flags: 0,
        })
        .expect("ELF header");
        w.write_align_program_headers();
        for (s, &offset) in segments.iter().zip(&offsets) {
            w.write_program_header(&WriteProgramHeader {
                p_type: PT_LOAD,
                p_flags: PF_R,
                p_offset: offset as u64,
                p_vaddr: s.vaddr,
                p_paddr: s.paddr,
                p_filesz: s.data.len() as u64,
                p_memsz: s.mem_size,
                p_align: 16,
            });
        }
        for (s, &offset) in segments.iter().zip(&offsets) {
            w.pad_until(offset);
            w.write(s.data);
        }
        w.write_null_symbol();
        w.write_symbol(&Sym {
            // Without the symbol, write it unnamed so the table shape is fixed.
            name: image_end.map(|_| name),
            section: None,
            st_info: (STB_GLOBAL << 4) | STT_NOTYPE,
            st_other: 0,
            st_shndx: SHN_ABS,
            st_value: image_end.unwrap_or(0),
            st_size: 0,
        });
        w.write_strtab();
        w.write_shstrtab();
        w.write_null_section_header();
        w.write_symtab_section_header(1);
        w.write_strtab_section_header();
        w.write_shstrtab_section_header();
        out
    }

    fn seg(paddr: u64, data: &[u8], mem_size: u64) -> LoadSegment<'_> {
        LoadSegment {
            paddr,
            vaddr: paddr,
            file_bytes: data,
            mem_size,
        }
    }

    #[test]
    fn segments_land_at_physical_offsets_with_zero_gaps() {
        let segments = [seg(0x1010, b"cd", 2), seg(0x1000, b"ab", 2)];
        let (base, bytes) = flatten_segments(&segments).expect("flattens");
        assert_eq!(base, 0x1000);
        let mut expected = vec![0u8; 0x12];
        expected[..2].copy_from_slice(b"ab");
        expected[0x10..].copy_from_slice(b"cd");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn bss_adds_no_file_bytes() {
        let (base, bytes) = flatten_segments(&[seg(0x2000, b"xyz", 0x1000)]).expect("flattens");
        assert_eq!((base, bytes.as_slice()), (0x2000, &b"xyz"[..]));
    }

    #[test]
    fn overlaps_empty_and_huge_are_refused() {
        assert_eq!(
            flatten_segments(&[seg(0x1000, b"abcd", 4), seg(0x1002, b"ef", 2)]),
            Err(FlattenError::Overlap {
                first: 0x1000,
                second: 0x1002
            })
        );
        assert_eq!(flatten_segments(&[]), Err(FlattenError::NoLoadSegments));
        assert_eq!(
            flatten_segments(&[seg(0, b"a", 1), seg(1 << 40, b"b", 1)]),
            Err(FlattenError::TooLarge {
                span: (1 << 40) + 1
            })
        );
    }

    #[test]
    fn program_image_from_a_real_elf() {
        let elf = test_elf(
            &[
                TestSegment {
                    paddr: 0x4000_0000,
                    vaddr: 0x4000_0000,
                    data: b"text",
                    mem_size: 4,
                },
                TestSegment {
                    paddr: 0x4000_0100,
                    vaddr: 0x4000_0100,
                    data: b"data",
                    mem_size: 0x200,
                },
            ],
            None,
            EM_AARCH64,
        );
        let exe = ElfExecutable::parse(&elf).expect("parses");
        let image = exe.program_image().expect("flattens");
        assert_eq!(image.load_address, 0x4000_0000);
        assert_eq!(image.entry, 0x4000_0000);
        assert_eq!(image.bytes.len(), 0x104);
        assert_eq!(&image.bytes[..4], b"text");
        assert_eq!(&image.bytes[0x100..], b"data");
        assert!(image.bytes[4..0x100].iter().all(|&b| b == 0));
    }

    #[test]
    fn kernel_image_runs_exactly_to_image_end() {
        let elf = test_elf(
            &[TestSegment {
                paddr: 0x4008_0000,
                vaddr: 0x4008_0000,
                data: b"kernel",
                mem_size: 0x3000,
            }],
            Some(0x4008_2800),
            EM_AARCH64,
        );
        let exe = ElfExecutable::parse(&elf).expect("parses");
        let image = exe.kernel_image(0x4008_0000).expect("flattens");
        assert_eq!(image.bytes.len(), 0x2800);
        assert_eq!(&image.bytes[..6], b"kernel");
        assert!(image.bytes[6..].iter().all(|&b| b == 0));
    }

    #[test]
    fn kernel_image_translates_a_virtual_image_end() {
        // Linked high, loaded low: the symbol is virtual.
        let elf = test_elf(
            &[TestSegment {
                paddr: 0x8_0000,
                vaddr: 0xffff_0000_0008_0000,
                data: b"k",
                mem_size: 0x1000,
            }],
            Some(0xffff_0000_0008_1000),
            EM_AARCH64,
        );
        let image = ElfExecutable::parse(&elf).and_then(|e| e.kernel_image(0x8_0000));
        assert_eq!(image.map(|i| i.bytes.len()), Ok(0x1000));
    }

    #[test]
    fn kernel_image_errors_are_specific() {
        let at = |paddr, end| {
            test_elf(
                &[TestSegment {
                    paddr,
                    vaddr: paddr,
                    data: &[1; 0x20],
                    mem_size: 0x20,
                }],
                end,
                EM_AARCH64,
            )
        };
        let kernel =
            |elf: &[u8]| ElfExecutable::parse(elf).and_then(|e| e.kernel_image(0x4008_0000));
        assert_eq!(
            kernel(&at(0x4000_0000, Some(0x4000_1000))),
            Err(FlattenError::NotAtLoadAddress {
                found: 0x4000_0000,
                expected: 0x4008_0000
            })
        );
        assert_eq!(
            kernel(&at(0x4008_0000, None)),
            Err(FlattenError::MissingSymbol(IMAGE_END_SYMBOL))
        );
        assert_eq!(
            kernel(&at(0x4008_0000, Some(0x4008_0010))),
            Err(FlattenError::BadImageEnd {
                image_end: 0x4008_0010
            })
        );
    }

    #[test]
    fn non_elf_and_foreign_elf_are_refused() {
        assert!(matches!(
            ElfExecutable::parse(b"MZ not an elf"),
            Err(FlattenError::NotElf(_))
        ));
        let x86 = test_elf(
            &[TestSegment {
                paddr: 0,
                vaddr: 0,
                data: b"x",
                mem_size: 1,
            }],
            None,
            object::elf::EM_X86_64,
        );
        assert!(matches!(
            ElfExecutable::parse(&x86),
            Err(FlattenError::WrongMachine { .. })
        ));
    }
}
