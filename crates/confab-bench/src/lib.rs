//! `confab bench`: the load generator.

/// Options of `confab bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The server's base URL
    #[arg(long, env = "CONFAB_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
}

/// Runs one benchmark scenario and prints its results.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("confab bench is not built yet (server {})", args.server)
}
