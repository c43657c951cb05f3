//! `govgate demo`: the gateway on embedded defaults with two built-in demo apps.

pub fn run(_data_dir: &std::path::Path) -> anyhow::Result<()> {
    anyhow::bail!("demo not ready yet")
}
