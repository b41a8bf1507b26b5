//! Parse arguments, run, map errors to exit codes; nothing else.

use clap::Parser;

fn main() {
    let cli = opslab::cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(opslab::error::exit::BUG);
        }
    };
    let code = match runtime.block_on(opslab::commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", e.render());
            e.code()
        }
    };
    // A blocking read of stdin (`opslab shell`) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
