//! `rkube image load|ls|rm`: the images of the data directory
//! (`DATA_DIR/images`), whether a cluster runs or not.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use rkube_image::ImageStore;

/// Load, list and remove the node's images.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Directory for all of rkube's data (images live in DIR/images).
    #[arg(
        long,
        value_name = "DIR",
        env = "RKUBE_DATA_DIR",
        default_value = "./.rkube",
        global = true
    )]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Load images from `docker save` tarballs, OCI layout directories or
    /// tars (gzip or zstd compressed or not).
    Load {
        /// The files (or OCI layout directories) to load.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the images: name, id, size.
    #[command(alias = "list")]
    Ls,
    /// Remove an image by name or id (a name that is one of several only
    /// loses that name).
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

pub async fn run(args: ImageArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.join("images");
    let store = ImageStore::open(&dir)
        .with_context(|| format!("cannot open the image store in {}", dir.display()))?;
    tokio::task::spawn_blocking(move || match args.command {
        ImageCommand::Load { files } => load(&store, &files),
        ImageCommand::Ls => list(&store),
        ImageCommand::Rm { names } => remove(&store, &names),
    })
    .await?
}

fn load(store: &ImageStore, files: &[PathBuf]) -> anyhow::Result<()> {
    for file in files {
        let images = store
            .load_file(file)
            .with_context(|| format!("cannot load {}", file.display()))?;
        for image in images {
            let name = image
                .repo_tags
                .first()
                .cloned()
                .unwrap_or_else(|| "<none>".to_string());
            println!("Loaded image: {name} ({})", short_id(&image.id));
        }
    }
    Ok(())
}

fn list(store: &ImageStore) -> anyhow::Result<()> {
    let images = store.list()?;
    let mut rows = vec![["IMAGE".to_string(), "ID".to_string(), "SIZE".to_string()]];
    for image in images {
        let names = if image.repo_tags.is_empty() {
            vec!["<none>".to_string()]
        } else {
            image.repo_tags.clone()
        };
        for name in names {
            rows.push([
                name,
                short_id(&image.id).to_string(),
                human_size(image.size),
            ]);
        }
    }
    let width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    for [name, id, size] in rows {
        println!("{name:<width$}   {id:<12}   {size}");
    }
    Ok(())
}

fn remove(store: &ImageStore, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        store
            .remove(name)
            .with_context(|| format!("cannot remove {name}"))?;
        println!("Deleted: {name}");
    }
    Ok(())
}

/// The first 12 hex digits of `sha256:<hex>`.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Sizes as `docker images` prints them: three significant digits,
/// powers of 1000.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let number = format!("{value:.digits$}");
    let number = if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        &number
    };
    format!("{number}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::{human_size, short_id};

    #[test]
    fn sizes_and_ids_as_docker_prints_them() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(104_857_600), "105MB");
        assert_eq!(human_size(2_000_000), "2MB");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
