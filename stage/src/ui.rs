//! Terminal output: one global verbosity set by `-v`/`-q`, and the macros the
//! rest of the tool prints through (to stderr, so stdout stays machine-readable).

use std::sync::atomic::{AtomicI8, Ordering};

static VERBOSITY: AtomicI8 = AtomicI8::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warn = -1,
    Info = 0,
    Debug = 1,
}

/// Sets the verbosity: 0 is normal, negative quieter, positive louder.
pub fn set_verbosity(v: i8) {
    VERBOSITY.store(v, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as i8 <= VERBOSITY.load(Ordering::Relaxed)
}

pub fn emit(level: Level, args: std::fmt::Arguments) {
    if enabled(level) {
        match level {
            Level::Warn => eprintln!("warning: {args}"),
            _ => eprintln!("{args}"),
        }
    }
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::ui::emit($crate::ui::Level::Info, format_args!($($t)*)) };
}

#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { $crate::ui::emit($crate::ui::Level::Debug, format_args!($($t)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::ui::emit($crate::ui::Level::Warn, format_args!($($t)*)) };
}

/// A span of seconds for people: `42s`, `7m 05s`, `13h 08m`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A rate for people: whole numbers where they are large, two decimals where a step takes
/// seconds (a real-data teacher on a CPU does a fraction of a step per second).
pub fn rate(per_second: f64) -> String {
    if per_second >= 10.0 {
        format!("{per_second:.0}/s")
    } else {
        format!("{per_second:.2}/s")
    }
}
