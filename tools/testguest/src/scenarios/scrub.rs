//! `scrub` (2 vCPUs, `restart = "on-crash"` with one restart allowed): the
//! core hands a partition only zeroed RAM, scrubbed on first touch a group of
//! pages at a time. In each run, vCPUs 0 and 1 first touch the same fresh
//! scrub groups at the same moment, in the same page or in the group's first
//! and last pages, and both must read zero and keep what they wrote (the
//! group is scrubbed once, not again under the first writer, whichever page
//! faults first); then words sampled in every free page must read zero. The first run fills its free RAM with a
//! pattern and faults on purpose; the second, after the core restarted the
//! partition, must find no trace of the pattern anywhere it samples.

use core::hint::spin_loop;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bulkhead_runtime::ram::FreeRam;
use bulkhead_runtime::{hvc, println, psci, smp};
use kernel_core::scrub::SCRUB_GROUP as GROUP;
use spin::Once;

use super::faults;

const PAGE: u64 = 4096;
/// Fresh scrub groups (whole ones, nothing touched before) the two vCPUs
/// race on, one round each.
const RACE_GROUPS: usize = 4;
/// Words checked in every free page: clear of the race's words (offsets 0
/// and 8 of a page) and spread over the page.
const SAMPLE_OFFSETS: [u64; 3] = [0x10, 0x800, 0xff8];
/// What the first run fills its RAM with (xor the word's address), so no
/// word of it is zero.
const PATTERN: u64 = 0xB1C5_7A7E_D00D_0000;

/// What both vCPUs share.
struct Shared {
    ram: FreeRam,
    groups: [u64; RACE_GROUPS],
}

static SHARED: Once<Shared> = Once::new();
/// The race round vCPU 0 has released (1-based).
static RELEASED: AtomicUsize = AtomicUsize::new(0);
/// The last round vCPU 1 finished.
static FINISHED: AtomicUsize = AtomicUsize::new(0);
/// First reads in the race that were not zero, and the last such value.
static NONZERO_FIRST_READS: AtomicUsize = AtomicUsize::new(0);
static NONZERO_VALUE: AtomicU64 = AtomicU64::new(0);

/// What vCPU `vcpu` writes to its word of `group`.
fn tag(group: u64, vcpu: u64) -> u64 {
    0x5C2B_0000_0000_0000 | group | vcpu
}

/// vCPU `vcpu`'s word of `group` in race round `round`: vCPU 0's is the
/// group's first word; vCPU 1's the next word in odd rounds, and in even
/// rounds the second word of the group's last page, so the two first
/// touches fault on different pages of one group (one page when a group is
/// a page).
fn race_word(group: u64, vcpu: u64, round: usize) -> u64 {
    match (vcpu, round % 2) {
        (0, _) => group,
        (_, 1) => group + 8,
        _ => group + GROUP - PAGE + 8,
    }
}

/// The first touch of vCPU `vcpu` in `group`: a read that must see zero,
/// then its tag.
fn touch(shared: &Shared, group: u64, vcpu: u64, round: usize) {
    let Some(word) = shared.ram.word(race_word(group, vcpu, round)) else {
        return;
    };
    let first = word.load(Ordering::Relaxed);
    if first != 0 {
        NONZERO_FIRST_READS.fetch_add(1, Ordering::Relaxed);
        NONZERO_VALUE.store(first, Ordering::Relaxed);
    }
    word.store(tag(group, vcpu), Ordering::Relaxed);
}

/// vCPU 1: touches each group as soon as vCPU 0 releases the round.
fn racer(_vcpu: usize) -> ! {
    if let Some(shared) = SHARED.get() {
        for (round, &group) in (1..).zip(&shared.groups) {
            while RELEASED.load(Ordering::Acquire) < round {
                spin_loop();
            }
            touch(shared, group, 1, round);
            FINISHED.store(round, Ordering::Release);
        }
    }
    let error = psci::cpu_off();
    println!("scrub: FAIL CPU_OFF returned {error:?}");
    psci::park()
}

/// The highest `RACE_GROUPS` aligned scrub groups lying wholly in free RAM.
fn fresh_groups(ram: &FreeRam) -> Option<[u64; RACE_GROUPS]> {
    let mut groups = [0; RACE_GROUPS];
    let mut found = 0;
    for piece in ram.pieces().iter().rev() {
        let mut group = piece.end & !(GROUP - 1);
        while found < RACE_GROUPS && group >= piece.start.saturating_add(GROUP) {
            group -= GROUP;
            if let Some(slot) = groups.get_mut(found) {
                *slot = group;
            }
            found += 1;
        }
    }
    (found == RACE_GROUPS).then_some(groups)
}

/// Both vCPUs touch each fresh group at once. `Err` names the failure.
fn race(run: u64, shared: &'static Shared) -> Result<(), ()> {
    if let Err(error) = smp::start_vcpu(1, racer) {
        println!("scrub: FAIL CPU_ON vCPU 1 got {error:?}");
        return Err(());
    }
    for (round, &group) in (1..).zip(&shared.groups) {
        RELEASED.store(round, Ordering::Release);
        touch(shared, group, 0, round);
        while FINISHED.load(Ordering::Acquire) < round {
            spin_loop();
        }
        for vcpu in 0..2 {
            let word = race_word(group, vcpu, round);
            let kept = shared.ram.word(word).map(|w| w.load(Ordering::Relaxed));
            if kept != Some(tag(group, vcpu)) {
                println!(
                    "scrub: FAIL run {run}: vCPU {vcpu}'s write at {word:#x} was lost (reads {kept:x?})"
                );
                return Err(());
            }
        }
    }
    let nonzero = NONZERO_FIRST_READS.load(Ordering::Relaxed);
    if nonzero != 0 {
        println!(
            "scrub: FAIL run {run}: {nonzero} first reads of fresh groups were not zero (last {:#x})",
            NONZERO_VALUE.load(Ordering::Relaxed)
        );
        return Err(());
    }
    println!(
        "scrub: run {run}: vCPUs 0 and 1 first touched {RACE_GROUPS} fresh {} KiB scrub groups at once, in one page and in two: both read zero, both writes kept",
        GROUP / 1024
    );
    Ok(())
}

/// Reads the sample words of every free page; returns how many it read,
/// and the first that was not zero.
fn sample(ram: &FreeRam) -> (u64, Option<(u64, u64)>) {
    let mut read = 0;
    let mut first_nonzero = None;
    for piece in ram.pieces() {
        let mut page = piece.start.div_ceil(PAGE) * PAGE;
        while page < piece.end {
            for offset in SAMPLE_OFFSETS {
                let Some(word) = ram.word(page + offset) else {
                    continue;
                };
                let value = word.load(Ordering::Relaxed);
                read += 1;
                if value != 0 && first_nonzero.is_none() {
                    first_nonzero = Some((page + offset, value));
                }
            }
            page += PAGE;
        }
    }
    (read, first_nonzero)
}

/// Writes the pattern to every word of free RAM; returns the bytes written.
fn fill(ram: &FreeRam) -> u64 {
    let mut bytes = 0;
    for piece in ram.pieces() {
        let mut address = piece.start.div_ceil(8) * 8;
        while let Some(word) = ram.word(address) {
            word.store(PATTERN ^ address, Ordering::Relaxed);
            address += 8;
            bytes += 8;
        }
    }
    bytes
}

fn checks(run: u64) -> Result<(), ()> {
    let shared = match FreeRam::claim() {
        Ok(ram) => match fresh_groups(&ram) {
            Some(groups) => SHARED.call_once(|| Shared { ram, groups }),
            None => {
                println!("scrub: FAIL fewer than {RACE_GROUPS} whole free scrub groups");
                return Err(());
            }
        },
        Err(error) => {
            println!("scrub: FAIL free RAM unavailable: {error:?}");
            return Err(());
        }
    };
    race(run, shared)?;
    let (read, first_nonzero) = sample(&shared.ram);
    if let Some((address, value)) = first_nonzero {
        if value ^ address == PATTERN {
            println!("scrub: FAIL run {run}: the previous run's pattern survived at {address:#x}");
        } else {
            println!("scrub: FAIL run {run}: {address:#x} reads {value:#x}, not zero");
        }
        return Err(());
    }
    if run == 1 {
        println!("scrub: run 1: fresh RAM reads as zero ({read} words sampled in every free page)");
    } else {
        println!(
            "scrub: run {run}: no trace of the pattern ({read} words sampled in every free page)"
        );
    }
    Ok(())
}

pub fn run() -> ! {
    let run = match hvc::partition_info() {
        Ok(info) => info.restart_count + 1,
        Err(error) => {
            println!("scrub: FAIL PARTITION_INFO got {error:?}");
            psci::system_off()
        }
    };
    if checks(run).is_err() {
        psci::system_off()
    }
    if run == 1 {
        if let Some(shared) = SHARED.get() {
            let bytes = fill(&shared.ram);
            println!(
                "scrub: run 1: filled {} KiB of free RAM with a pattern; faulting on purpose",
                bytes / 1024
            );
        }
        faults::read_outside_ram("scrub");
    } else {
        println!("scrub: all ok");
    }
    psci::system_off()
}
