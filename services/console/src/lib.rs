//! The console service: owns the board's UART, emulates a PL011 for each
//! guest, prints every guest line as `[<partition name>] text`, routes typed
//! input to one guest at a time and keeps the last 4 KiB each guest printed.
//!
//! This library is the service's logic, host-tested; `src/main.rs` is the
//! program (target only) that runs it on the IPC calls of the core.
//!
//! # Boot arguments
//!
//! The configuration passes everything in `/chosen/bootargs` (all optional):
//!
//! | option | meaning |
//! |---|---|
//! | `endpoint_slot=N` | cap slot of the console endpoint, right `recv` (default 0) |
//! | `uart=0x09000000` | IPA of the board's PL011, passed through to the console; without it, the PL011 of the console's device tree |
//! | `irq_slot=N` | cap slot (right `wait`) of the notification bound to the UART's physical interrupt; without it there is no input |
//! | `input_vcpu=N` | the vCPU that waits for input (see "Input"); without it (or when it is 0 or beyond the console's vCPUs) input is polled after each access served |
//! | `devices=0x100:hello,0x101:ticker` | the emulated PL011s: the badge of each device and the name of the guest that has it, comma separated; this order numbers the guests for the input switch |
//! | `doorbells=0x100:3,0x101:4` | for a device badge, the cap slot (right `signal`) of a notification bound to that device's interrupt in its guest |
//!
//! A malformed entry is reported on the console and left out.
//!
//! # What the configuration must give the console
//!
//! - One vCPU on every CPU where a guest with a console-backed device runs
//!   (the core runs the server's context on the caller's CPU). On each CPU
//!   the core takes the console's *first* vCPU homed there as the server
//!   context, so those serve the endpoint.
//! - For input: one more vCPU, listed after the serving ones (so it is never
//!   the first on its CPU), named by `input_vcpu`, at the same priority as
//!   the serving vCPU on its CPU (see "Locks"); a passthrough of the UART;
//!   the notification bound to its interrupt; and per guest a notification
//!   bound to the guest's device interrupt (`virq`), so that input reaches a
//!   guest that is not touching its UART.
//!
//! # Serving
//!
//! Every serving vCPU runs the same loop: `RECV`, then `REPLY_RECV` with the
//! answer to each message. A message with an MMIO access
//! ([`abi::ipc::mmio::Access`]) from a device badge in `devices` is
//! performed on that guest's [`pl011_model::Pl011Model`]; the reply carries
//! the loaded value in word 0 and the device's interrupt line level, `(RIS &
//! IMSC) != 0`, in word 1. An access from a badge not in `devices` reads as
//! zero with the line low. Any other message is answered with word 0 =
//! `abi::Error::NotSupported` as an x0-style code.
//!
//! Most accesses never get here: the console publishes each guest's
//! readable registers to the core, which maps them read-only into the guest
//! while no load has a side effect (so flag polls do not even trap) and
//! answers loads of them itself otherwise, and — with an input vCPU —
//! declares UARTDR posted, so the core queues transmitted bytes; they are
//! drained before any synchronous access of that guest and by the input
//! vCPU ([`posted_uart`]). The console says so at start: `[console] posted
//! MMIO: registers published, reads mapped, UARTDR posted for N guest(s)`.
//!
//! # Output
//!
//! Each guest's transmitted bytes are assembled into lines (the runtime's
//! [`bulkhead_runtime::line_buffer::LineBuffer`]; CRs dropped, a line longer
//! than its capacity is cut) and printed as `[<name>] text` CR LF
//! ([`terminal`]). Once someone has typed to a guest, its unfinished line is
//! shown as it grows while it has focus, so a shell prompt and the echo of
//! typing appear at once (before that, output goes out in whole lines only,
//! which keeps transcripts of unattended runs clean); when another line
//! has to go out in between, the unfinished one is broken off and shown again
//! after it. Each finished line also goes to the guest's [`log_ring`].
//!
//! # Input
//!
//! A vCPU blocks in one call at a time, and a serving vCPU must be blocked in
//! `RECV` for guests on its CPU to be served; so the UART's interrupt is
//! waited for by a vCPU of its own, `input_vcpu`, which loops on `WAIT`,
//! reads the UART dry, hands the bytes to the [`input::InputSwitch`] and
//! sends `IRQ_ACK`. Bytes for the focused guest queue (up to 256) for its
//! receive FIFO, which takes them as the guest makes room, as behind flow
//! control, so a paste does not overrun the 16-byte FIFO ([`guest`]); when
//! they raise the guest's interrupt line, the guest's doorbell is
//! signalled (the core pends the interrupt, and the guest's accesses from
//! then on report the level). Ctrl-\ followed by a digit moves the focus
//! (printing `[console] input goes to "<name>"`), Ctrl-\ `l` dumps the
//! focused guest's log, Ctrl-\ `?` prints the keys ([`input`]).
//!
//! Without `input_vcpu`, every serving vCPU `POLL`s the notification after
//! each access it serves: input then waits for the next access of any guest.
//!
//! The input vCPU also drains the bytes the core queued for guests' posted
//! UARTDRs: the core signals bit `1 + i` of the same notification when
//! guest `i` queues a byte after a drain left its queue empty; the vCPU
//! lets the burst pile up for a millisecond, drains it and arms the bit
//! again.
//!
//! # Locks
//!
//! Each guest's state has its own lock, and the UART (device, terminal,
//! input switch) one more; guests on different CPUs are served at once. The
//! order is guest, then UART, never the reverse. A contended lock yields the
//! CPU to the core (`WFE`, which the core treats as a yield), so a holder
//! preempted on the same CPU gets to finish; that is why the input vCPU must
//! not have a higher priority than the serving vCPU it shares a CPU with.
//!
//! # Known limits
//!
//! - The console does not see a guest restart: the restarted guest finds its
//!   UART as its previous run left it (its driver resets what it uses).
//! - A console restart resets every guest's UART to its reset state under
//!   the running guests (Linux recovers: it rewrites the whole IMSC with
//!   every transmission, and queued input fills a FIFO left disabled).
//!   Bytes the core had queued for it are dropped with the rest of the
//!   device's state, as a reset UART drops its transmit FIFO, and so are
//!   the few it had drained but not yet printed.
//! - Posted bytes are printed a little after the store that made them (at
//!   the next drain): a core line about something the guest did afterwards
//!   can come first, unless the guest's driver ends its writes with a
//!   synchronous access, as Linux's amba-pl011 console (UARTCR) and the
//!   partition runtime's PL011 console do.
//! - The core prints its own lines on the same UART. While the console
//!   prints (from the first byte under its UART lock until the lock goes)
//!   it claims the UART (`UART_CLAIM`) and the core keeps its lines back,
//!   so the two never interleave; but a core line printed while a focused
//!   guest's prompt is open on the screen still continues that screen
//!   line.
//! - Without a UART, lines go through the core's `CONSOLE_WRITE`, which
//!   prefixes them with `[console] ` once more.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub use bulkhead_runtime::byte_ring;
pub mod guest;
pub mod input;
pub mod log_ring;
pub mod pl011_model;
pub mod posted_uart;
pub mod settings;
pub mod terminal;
