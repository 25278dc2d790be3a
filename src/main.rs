use std::process::ExitCode;

use clap::Parser;

fn main() -> anyhow::Result<ExitCode> {
    // `mtmt-pipe ... | head` ends quietly, as Unix tools do, instead of panicking on the
    // closed pipe; a run cut short this way leaves the store valid (publication is atomic).
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; restores the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = mtmt_pipe::cli::Cli::parse();
    match mtmt_pipe::commands::execute(cli) {
        // The error chain on one line (`error::message`), without a backtrace dump even when
        // RUST_BACKTRACE is set.
        Err(err) => {
            eprintln!("error: {}", mtmt_pipe::error::message(&err));
            Ok(ExitCode::FAILURE)
        }
        ok => ok,
    }
}
