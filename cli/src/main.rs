//! The `comms` command. Everything lives in the library; this only hands over the args.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    comms_cli::run(comms_cli::Cli::parse()).await
}
