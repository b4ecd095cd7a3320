//! `databox`: runs the box (`databox serve`) and administers it from the command line. The
//! binary is thin glue: the work is done by the store, arbiter and api crates.

mod bench;
mod client;
mod demo;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Databox: your personal data box.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the box: open (or create) the data directory and serve the API.
    Serve(serve::ServeArgs),
    /// Stores: list, create, erase.
    #[command(subcommand)]
    Store(client::StoreCmd),
    /// Datasources of a store: list, create, retention, remove.
    #[command(subcommand)]
    Datasource(client::DatasourceCmd),
    /// Time series: write, read, delete, observe.
    #[command(subcommand)]
    Ts(client::TsCmd),
    /// Key-value datasources: get, put, list, delete.
    #[command(subcommand)]
    Kv(client::KvCmd),
    /// Show the Hypercat catalogue (the root one, or a store's), with optional simple search.
    Cat(client::CatArgs),
    /// The owner's token.
    #[command(subcommand)]
    OwnerToken(OwnerTokenCmd),
    /// Measure the store and the API against raw SQLite in one run.
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum OwnerTokenCmd {
    /// Make a new owner token (the old one stops working) and print it. Run on the box's machine.
    Reset {
        /// The box's data directory.
        #[arg(long, env = "DATABOX_DATA_DIR", default_value_os_t = serve::default_data_dir())]
        data_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Store(c) => client::run(client::Action::Store(c)),
        Command::Datasource(c) => client::run(client::Action::Datasource(c)),
        Command::Ts(c) => client::run(client::Action::Ts(c)),
        Command::Kv(c) => client::run(client::Action::Kv(c)),
        Command::Cat(c) => client::run(client::Action::Cat(c)),
        Command::OwnerToken(OwnerTokenCmd::Reset { data_dir }) => {
            let (_, token) = databox_arbiter::OwnerToken::reset(&data_dir)?;
            println!("New owner token (the old one no longer works; restart a running box to use it):");
            println!("{}", token.as_str());
            Ok(())
        }
        Command::Bench(args) => bench::run(args),
    }
}
