use std::process::ExitCode;

use clap::Parser;

fn main() -> anyhow::Result<ExitCode> {
    let cli = mtmt_pipe::cli::Cli::parse();
    match mtmt_pipe::commands::execute(cli) {
        // The error chain on one line, without a backtrace dump even when RUST_BACKTRACE is set.
        Err(err) => {
            eprintln!("error: {err:#}");
            Ok(ExitCode::FAILURE)
        }
        ok => ok,
    }
}
