//! `databox new app|driver NAME`: scaffolds a component project. (Being written.)

use std::path::PathBuf;

/// Arguments of `databox new`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// `app` or `driver`.
    pub kind: String,
    /// The component's name (a-z 0-9 -, starting with a letter).
    pub name: String,
    /// Where to create the project folder (default: the current folder).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// Runs `databox new`.
pub fn run(_args: NewArgs) -> anyhow::Result<()> {
    anyhow::bail!("databox new is not built yet")
}
