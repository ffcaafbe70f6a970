//! `pbi-access tenant …`: operator commands on a database, without a running server.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use pbi_server::store::Store;
use pbi_server::tenant::{self, TenantSpec};
use pbi_server::SystemClock;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create an empty tenant with an automation service principal (prints its credentials).
    ///
    /// Example: pbi-access tenant create --name Fabrikam --domain fabrikam.onmicrosoft.com --admin admin@fabrikam.onmicrosoft.com --password 'S3cret!'
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        domain: String,
        /// Also create this user as a Fabric administrator.
        #[arg(long, requires = "password")]
        admin: Option<String>,
        /// The administrator's password.
        #[arg(long, requires = "admin")]
        password: Option<String>,
    },
    /// List the tenants of the database.
    ///
    /// Example: pbi-access tenant list --database sqlite://pbi-access.db
    List,
    /// Write a tenant as a JSON snapshot (directory, service principals with hashed secrets,
    /// workspaces and roles) to stdout or a file.
    ///
    /// Example: pbi-access tenant export 8627d6d5-4356-45f2-8be7-cb087b00936c --output contoso.json
    Export {
        /// Tenant id or domain.
        tenant: String,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Create a tenant from a JSON snapshot or spec (validated; all of it or nothing).
    ///
    /// Example: pbi-access tenant import contoso.json --database postgres://postgres@127.0.0.1/test
    Import {
        /// The snapshot file, or - for standard input.
        file: PathBuf,
    },
}

pub async fn run(command: TenantCommand, database: &str) -> ExitCode {
    let store = match Store::connect(database).await {
        Ok(store) => store,
        Err(e) => return fail(1, format!("cannot open {database}: {e}")),
    };
    let clock = SystemClock;
    match command {
        TenantCommand::Create { name, domain, admin, password } => {
            let admin = admin.as_deref().zip(password.as_deref());
            match tenant::create(&store, &clock, &name, &domain, admin).await {
                Ok(made) => {
                    println!("{}", serde_json::to_string_pretty(&made).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, e.to_string()),
            }
        }
        TenantCommand::List => match store.list_tenants().await {
            Ok(tenants) => {
                println!("{:<36}  {:<32}  name", "id", "domain");
                for t in tenants {
                    println!("{:<36}  {:<32}  {}", t.id, t.domain, t.name);
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, e.to_string()),
        },
        TenantCommand::Export { tenant, output } => {
            let id = match store.find_tenant(&tenant).await {
                Ok(Some(t)) => t.id,
                Ok(None) => return fail(1, format!("no tenant '{tenant}'")),
                Err(e) => return fail(1, e.to_string()),
            };
            let snapshot = match tenant::export(&store, id).await {
                Ok(Some(s)) => s,
                Ok(None) => return fail(1, format!("no tenant '{tenant}'")),
                Err(e) => return fail(1, e.to_string()),
            };
            let json = serde_json::to_string_pretty(&snapshot).unwrap_or_default();
            match output {
                Some(path) => match std::fs::write(&path, json + "\n") {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(1, format!("cannot write {}: {e}", path.display())),
                },
                None => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
            }
        }
        TenantCommand::Import { file } => {
            let mut text = String::new();
            let read = if file.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text).map(drop)
            } else {
                std::fs::read_to_string(&file).map(|t| text = t)
            };
            if let Err(e) = read {
                return fail(1, format!("cannot read {}: {e}", file.display()));
            }
            let spec: TenantSpec = match serde_json::from_str(&text) {
                Ok(spec) => spec,
                Err(e) => return fail(2, format!("{} is not a tenant snapshot: {e}", file.display())),
            };
            match tenant::provision(&store, &clock, &spec).await {
                Ok(made) => {
                    println!("imported tenant {} ({})", made.tenant.id, made.tenant.domain);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(2, format!("import refused, nothing was written: {e}")),
            }
        }
    }
}

fn fail(code: u8, message: String) -> ExitCode {
    eprintln!("pbi-access: {message}");
    ExitCode::from(code)
}
