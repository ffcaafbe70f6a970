//! `pbi-access`: a thin main. It parses the command line, loads configuration and hands over to
//! the server library; nothing here knows about HTTP handlers or SQL.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use pbi_server::config::Config;
use pbi_server::{banner, telemetry, Application, SystemClock};

#[derive(Parser)]
#[command(name = "pbi-access", version, about = "A faithful, self-hosted Power BI user-management service, and the tools to automate it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (Power BI API, token endpoint, JWKS) on SQLite or PostgreSQL.
    ///
    /// Example: pbi-access serve --listen 127.0.0.1:8080 --database sqlite://pbi-access.db
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// sqlite://PATH (default sqlite://pbi-access.db) or postgres://USER@HOST/DB.
        #[arg(long)]
        database: Option<String>,
        /// Base URL clients reach this server at (default http://LISTEN).
        #[arg(long)]
        public_url: Option<String>,
        /// TOML configuration file; `PBI_ACCESS_*` variables and these flags override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Log line format.
        #[arg(long, value_parser = ["text", "json"])]
        log_format: Option<String>,
        /// Do not create the demo tenant on an empty database.
        #[arg(long)]
        no_demo: bool,
    },
    /// Exit 0 when the server answers its health check, 1 otherwise.
    ///
    /// Example: pbi-access healthcheck --url http://127.0.0.1:8080
    Healthcheck {
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { listen, database, public_url, config, log_format, no_demo } => {
            let mut overrides = serde_json::Map::new();
            let mut set = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    overrides.insert(k.into(), v.into());
                }
            };
            set("listen", listen);
            set("database", database);
            set("public_url", public_url);
            set("log_format", log_format);
            if no_demo {
                overrides.insert("demo".into(), false.into());
            }
            let config = match Config::load(config.as_deref(), &serde_json::Value::Object(overrides)) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("pbi-access: configuration error: {e}");
                    return ExitCode::from(2);
                }
            };
            telemetry::init(config.log_format);
            serve(config).await
        }
        Command::Healthcheck { url } => healthcheck(&url).await,
    }
}

async fn serve(config: Config) -> ExitCode {
    let app = match Application::build(config, Arc::new(SystemClock)).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("pbi-access: cannot start: {e:#}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(address = %app.local_addr(), public_url = app.public_url(), "pbi-access is listening");
    // The banner goes to stdout whatever the log format, so the demo credentials are always shown.
    if let Some(text) = banner::demo_banner(&app).await {
        println!("{text}");
    }
    match app.run_until(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pbi-access: server error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn healthcheck(url: &str) -> ExitCode {
    let url = format!("{}/healthz", url.trim_end_matches('/'));
    match reqwest::Client::new().get(&url).timeout(std::time::Duration::from_secs(5)).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("pbi-access: {url} answered {}", r.status());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("pbi-access: {url} did not answer: {e}");
            ExitCode::from(1)
        }
    }
}
