//! `wharf`: starts the server (`wharf serve`, also what a bare `wharf` does).

use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::process::ExitCode;
use wharf::config::{Config, LogFormat, ServeArgs};
use wharf::Server;

/// Request handling allocates many small buffers across threads; mimalloc does that markedly
/// faster than the system allocator (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "wharf", version, about = "The AWS messaging stack as one fast, durable binary")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error.into()),
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Handlers exist before the ready line, so a signal sent the moment it appears is graceful.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let server = Server::start(config).await?;
    println!("wharf listening on http://{}", server.local_addr);
    let _ = std::io::stdout().flush();
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::info!("shutting down");
    server.shutdown().await
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("wharf: {}", format!("{error:#}").replace('\n', " "));
    ExitCode::FAILURE
}
