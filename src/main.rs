use std::process::ExitCode;

use clap::Parser;

fn main() -> anyhow::Result<ExitCode> {
    let cli = mtmt_pipe::cli::Cli::parse();
    mtmt_pipe::commands::execute(cli)
}
