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
