//! `databox`: runs the box (`databox serve`) and administers it from the command line. The
//! binary is thin glue: the work is done by the store, arbiter and api crates.

mod access;
mod bench;
mod client;
mod components;
mod demo;
mod exports;
mod first_party;
mod imports;
mod scaffold;
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
    /// Principals: the apps, drivers and external clients the owner lets near the data.
    Principals(access::PrincipalsArgs),
    /// Give a principal a grant: an operation on a datasource (or a whole store), with limits.
    Grant(access::GrantArgs),
    /// List grants.
    Grants {
        #[command(flatten)]
        conn: client::Conn,
        /// Only this principal's.
        #[arg(long)]
        principal: Option<String>,
        /// Print the box's JSON answer instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Take a grant back (by its id, g-...): it stops working at once.
    Revoke {
        #[command(flatten)]
        conn: client::Conn,
        /// The grant's id.
        grant: String,
    },
    /// Tokens for principals: mint, attenuate, revoke, list.
    #[command(subcommand)]
    Token(access::TokenCmd),
    /// The audit log: verify, query, tail.
    #[command(subcommand)]
    Audit(access::AuditCmd),
    /// The monthly statement: who used what, in plain language.
    Statement {
        #[command(flatten)]
        conn: client::Conn,
        /// The month, YYYY-MM (default: this month, UTC).
        #[arg(long)]
        month: Option<String>,
    },
    /// The owner's token.
    #[command(subcommand)]
    OwnerToken(OwnerTokenCmd),
    /// Measure the store and the API against raw SQLite in one run.
    Bench(bench::BenchArgs),
    /// Apps and drivers: install, start, stop, logs, uninstall, pack.
    #[command(subcommand)]
    Component(components::ComponentCmd),
    /// What leaves the box: exports, the review queue, receipts, destinations.
    #[command(subcommand)]
    Export(exports::ExportCmd),
    /// Import export files lying on the box's machine: Apple Health, Google location history.
    #[command(subcommand)]
    Import(imports::ImportCmd),
    /// The owner's dashboard: a one-time login link (to log in without the password, or to set one).
    #[command(subcommand)]
    Dashboard(DashboardCmd),
    /// Start a new app or driver project (Rust, built for WebAssembly with the SDK).
    New(scaffold::NewArgs),
}

#[derive(Subcommand)]
enum DashboardCmd {
    /// Print a one-time link that logs in to the dashboard (valid once, for 15 minutes).
    Link {
        #[command(flatten)]
        conn: client::Conn,
    },
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

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on, with its causes; no backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Store(c) => client::run(client::Action::Store(c)),
        Command::Datasource(c) => client::run(client::Action::Datasource(c)),
        Command::Ts(c) => client::run(client::Action::Ts(c)),
        Command::Kv(c) => client::run(client::Action::Kv(c)),
        Command::Cat(c) => client::run(client::Action::Cat(c)),
        Command::Principals(a) => access::run(access::Action::Principals(a)),
        Command::Grant(a) => access::run(access::Action::Grant(a)),
        Command::Grants {
            conn,
            principal,
            json,
        } => access::run(access::Action::Grants {
            conn,
            principal,
            json,
        }),
        Command::Revoke { conn, grant } => access::run(access::Action::Revoke { conn, grant }),
        Command::Token(c) => access::run(access::Action::Token(c)),
        Command::Audit(c) => access::run(access::Action::Audit(c)),
        Command::Statement { conn, month } => access::run(access::Action::Statement { conn, month }),
        Command::Dashboard(DashboardCmd::Link { conn }) => {
            access::run(access::Action::DashboardLink { conn })
        }
        Command::OwnerToken(OwnerTokenCmd::Reset { data_dir }) => {
            let (_, token) = databox_arbiter::OwnerToken::reset(&data_dir)?;
            println!("New owner token (the old one no longer works; restart a running box to use it):");
            println!("{}", token.as_str());
            Ok(())
        }
        Command::Bench(args) => bench::run(args),
        Command::New(args) => scaffold::run(args),
        Command::Component(c) => components::run(c),
        Command::Export(c) => exports::run(c),
        Command::Import(c) => imports::run(c),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
