//! `databox bench` (filled in below).
#[derive(clap::Args)]
pub struct BenchArgs {}
pub fn run(_: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
