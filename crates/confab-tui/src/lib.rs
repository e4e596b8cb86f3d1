//! `confab chat`: the terminal client.

/// Options of `confab chat`.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The server's base URL
    #[arg(long, env = "CONFAB_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
}

/// Runs the terminal client until the user quits.
pub fn run(args: ChatArgs) -> anyhow::Result<()> {
    anyhow::bail!("confab chat is not built yet (server {})", args.server)
}
