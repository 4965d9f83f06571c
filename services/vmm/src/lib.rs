//! The vmm service's policy, host-testable: boot arguments, restart rules
//! with their sliding window, the supervision state machine, console
//! messages, the status table, the control protocol and the wake schedule.
//! The `vmm` program (`src/main.rs`) applies it through the runtime's IPC
//! calls.
//!
//! # What the vmm does
//!
//! The configuration marks the vmm as the system's supervisor, so the core
//! starts only the vmm. The vmm then
//!
//! 1. starts every partition it supervises, in configuration order, with
//!    `PARTITION_CONTROL` START, printing `vmm: started "<name>"` (a
//!    partition found running — the vmm itself was restarted — is adopted:
//!    `vmm: "<name>" already running`; one found faulted gets its policy);
//! 2. prints the status table;
//! 3. loops: waits for the fault notification (see [`schedule::WakePlan`]),
//!    reads `PARTITION_STATUS` of every partition, and for each new fault
//!    applies the partition's restart policy (see [`supervision`]):
//!    - `never`: `vmm: "<name>" faulted; policy never: left stopped`;
//!    - `on-crash`: `vmm: restarting "<name>" (restart k of max in window)`
//!      and `PARTITION_CONTROL` RESTART, unless it has restarted `max` times
//!      within the last `window_ms`:
//!      `vmm: "<name>" exceeded max restarts in window; left stopped`;
//!    - `always`: `vmm: restarting "<name>" (faulted; policy always)`.
//!
//!    A partition that powered itself off (found `stopped`, not `faulted`,
//!    after the vmm started it) is restarted only under `always`
//!    (`vmm: restarting "<name>" (powered off; policy always)`); otherwise
//!    `vmm: "<name>" powered off; policy <policy>: left stopped`.
//!    After every change (a state differs from the last look, or a decision
//!    was made) it prints the status table again (see [`table`]).
//!
//! The restart windows live in the vmm's memory: a vmm the core restarts
//! starts counting afresh, starts any partition it finds stopped, and adopts
//! the running ones.
//!
//! # Boot arguments
//!
//! The config tool appends them to the vmm's `/chosen/bootargs`
//! (tools/config `service_args`); `status_ms` comes from the configuration's
//! own `bootargs`:
//!
//! ```text
//! [partitions=<slot>:<name>:<policy>[:<max>:<window_ms>],...]  [faults=<slot>]  [status_ms=<n>]  [control=<slot>]
//! ```
//!
//! - `partitions=`: the partitions the vmm supervises, **in configuration
//!   (start) order**, comma separated. `<slot>` is the vmm's capability slot
//!   for the partition (rights CONTROL and STATUS), `<name>` its name (for
//!   messages), `<policy>` one of `never`, `on-crash`, `always`. `on-crash`
//!   (and only it) takes `:<max>:<window_ms>`: at most `<max>` (1 to 1000)
//!   restarts within any `<window_ms>` milliseconds (more than 0). Absent or
//!   empty, the vmm supervises nothing. Example:
//!   `partitions=2:console:always,3:linux:on-crash:3:60000,4:probe:never`.
//! - `faults=<slot>`: the fault notification's capability slot (right
//!   WAIT); the core sets bit 0 when a partition faults. Without it the vmm
//!   looks at the partitions on a timer.
//! - `status_ms=<n>` (default 0): also print the table every `<n>` ms; 0
//!   prints it only on a change.
//! - `control=<slot>`: serve the control endpoint in that slot (right
//!   RECV); see [`control`].
//!
//! Slots are decimal or `0x` hex, below 64, and all different; other keys
//! (meant for other services) are ignored. Anything malformed stops the vmm
//! with `vmm: cannot run: <why>` and a fault (the core then applies the
//! vmm's own restart policy).
//!
//! # vCPUs
//!
//! vCPU 0 supervises. With `control=`, every other vCPU of the vmm serves the
//! control endpoint (blocked in `RECV`): the core runs a call on the caller's
//! CPU, so the configuration gives the vmm a vCPU besides vCPU 0 on every
//! CPU of every partition that calls it. Without a second vCPU the control
//! endpoint is not served and the vmm says so.
//!
//! # Waking
//!
//! With a fault notification, `status_ms=0` and no `always` partition the
//! vmm blocks in `WAIT` on the fault notification and costs nothing between
//! faults. Otherwise it
//! polls the notification and the partitions every
//! [`schedule::WATCH_INTERVAL_MS`] ms (or `status_ms`, if shorter), sleeping
//! on the virtual timer in between: a `WAIT` only ends on a signal, and the
//! core signals faults, not power-offs or the passing of time. A `WAIT` that
//! fails turns the vmm to polling too.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod control;
pub mod events;
pub mod restart;
pub mod schedule;
pub mod service;
pub mod settings;
pub mod supervision;
pub mod table;
