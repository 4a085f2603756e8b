//! placeholder
/// Arguments.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}
/// Runs.
pub fn run(_: BenchArgs) -> anyhow::Result<()> { Ok(()) }
