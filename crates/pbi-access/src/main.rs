//! `pbi-access`: a thin main. It parses the command line, loads configuration and hands over to
//! the server library; nothing here knows about HTTP handlers or SQL.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod cli;
mod review_web;
mod tenant_cmd;

use clap::{Parser, Subcommand};
use pbi_server::config::Config;
use pbi_server::seed::SeedParams;
use pbi_server::store::Store;
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
    Serve(ServeArgs),
    /// Manage tenants in a database: create, list, export a snapshot, import one.
    ///
    /// Example: pbi-access tenant list --database sqlite://pbi-access.db
    Tenant {
        #[command(subcommand)]
        command: tenant_cmd::TenantCommand,
        /// sqlite://PATH (default from the configuration: sqlite://pbi-access.db) or postgres://….
        #[arg(long, global = true)]
        database: Option<String>,
        /// TOML configuration file (for its `database`).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// List the workspaces the profile's identity holds a role in.
    ///
    /// Example: PBI_ACCESS_TENANT=… PBI_ACCESS_CLIENT_ID=… PBI_ACCESS_CLIENT_SECRET=… pbi-access workspaces --output csv
    Workspaces {
        #[command(flatten)]
        conn: Conn,
    },
    /// List who holds which role in a workspace (by name or id).
    ///
    /// Example: pbi-access members "Sales Analytics" --profile twin
    Members {
        workspace: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// List the tenant's users from Graph: UPN, display name, user type, enabled, Power BI license.
    ///
    /// Example: pbi-access users --output csv
    Users {
        #[command(flatten)]
        conn: Conn,
    },
    /// A user's effective access, each with the path that grants it: direct, workspace role,
    /// group X inside group Y, Microsoft 365 group backing the workspace.
    ///
    /// Example: pbi-access access alice@contoso.onmicrosoft.com
    Access {
        upn: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Everyone with access to a workspace, report, dataset or dashboard (by name or id), groups
    /// expanded into their nested members, with the path.
    ///
    /// Example: pbi-access who "Sales Overview" --output json
    Who {
        artifact: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Every principal with role, licenseType and userType, flagging guests and Free users with
    /// write roles, disabled or deleted accounts holding roles, group-only access and workspaces
    /// without an Admin. --all scans the whole tenant with the scanner API in a few admin calls.
    ///
    /// Example: pbi-access audit --all --output snapshot --out contoso.snapshot.json
    Audit {
        /// One workspace, by name or id.
        #[arg(long, conflicts_with = "all")]
        workspace: Option<String>,
        /// Every workspace of the tenant (scanner API).
        #[arg(long)]
        all: bool,
        /// Where `--output snapshot` writes the tenant snapshot.
        #[arg(long, default_value = "tenant.snapshot.json")]
        out: PathBuf,
        /// With --all: only the workspaces modified since this long ago (`24h`, `7d`; 30 min to 30 days).
        #[arg(long, requires = "all")]
        since: Option<String>,
        /// With --all: where a budget stop saves what is left (default audit-all.journal.json).
        #[arg(long, requires = "all")]
        journal: Option<PathBuf>,
        /// With --all: resume the audit saved in this journal.
        #[arg(long, requires = "all", conflicts_with = "since")]
        resume: Option<PathBuf>,
        /// Read the whole directory before the first workspace instead of what each batch names.
        #[arg(long, hide = true)]
        eager_directory: bool,
        #[command(flatten)]
        conn: AuditConn,
    },
    /// Run a command against a local twin of the tenant (from a snapshot), then show what it
    /// changed (the audit before and after) and the admin calls and time it took.
    ///
    /// Example: pbi-access rehearse --snapshot contoso.snapshot.json -- onboard erin@contoso.com --workspace Sales --role Viewer
    Rehearse {
        /// A snapshot from `audit --all --output snapshot` (default: take one now).
        #[arg(long)]
        snapshot: Option<PathBuf>,
        /// The command and its arguments, after `--`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
        /// Profile name in profiles.toml (PBI_ACCESS_* variables override it); the twin gets its own.
        #[arg(long, default_value = "default")]
        profile: String,
        /// The profiles file (default: $PBI_ACCESS_PROFILES or ~/.config/pbi-access/profiles.toml).
        #[arg(long)]
        profiles: Option<PathBuf>,
    },
    /// Access reviews: campaigns over a frozen snapshot of who holds what, decided by each
    /// workspace's Admins, with an evidence export whose decision log is hash-chained.
    ///
    /// Example: pbi-access review start --name "Q4 Finance" --name-contains finance --due-days 14
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// Onboard a user: check the account, assign the license (Graph), add the workspace roles,
    /// grant the dataset permission, verify by reading back. Running it again changes nothing.
    ///
    /// Example: pbi-access onboard erin@contoso.com --workspace Sales --workspace Finance --role Viewer --license pro
    Onboard {
        upn: String,
        /// A workspace by name or id (repeat for several).
        #[arg(long, required = true)]
        workspace: Vec<String>,
        /// Admin, Member, Contributor or Viewer.
        #[arg(long)]
        role: String,
        #[arg(long, value_enum)]
        license: Option<cli::onboard::License>,
        /// A dataset (name or id) in one of the workspaces.
        #[arg(long, requires = "permission")]
        dataset: Option<String>,
        /// The dataset permission: Read, ReadReshare, ReadExplore, ReadReshareExplore, …
        #[arg(long, requires = "dataset")]
        permission: Option<String>,
        /// Set this usageLocation (two-letter country code) on an account that has none; a license needs one.
        #[arg(long, value_name = "CC")]
        usage_location: Option<String>,
        /// Seconds to wait for the license to show in Graph's licenseDetails.
        #[arg(long, default_value_t = 120)]
        license_wait: u64,
        #[command(flatten)]
        conn: Conn,
    },
    /// Diff a desired state (YAML) against the service: every change, its admin-budget cost and a time estimate.
    ///
    /// Example: pbi-access plan desired.yaml --out access.plan.json
    Plan {
        desired: PathBuf,
        /// Where to write the plan (default: access.plan.json).
        #[arg(long, default_value = "access.plan.json")]
        out: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Apply a plan, journaling each step: safe to interrupt and run again; refused if the service drifted.
    ///
    /// Example: pbi-access apply access.plan.json --yes
    Apply {
        plan: PathBuf,
        /// The journal (default: the plan's path with .journal).
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove a departing user's access: every workspace role and dataset permission, through the
    /// endpoint that spends the least admin budget, handing the last Admin role to --successor;
    /// then verify and report what remains and why (access through a group is Entra's to remove).
    ///
    /// The plan is shown and confirmed first (--yes skips the prompt). Every step is journaled: a run
    /// stopped by the admin budget (exit 3) or interrupted resumes with the same command or --resume.
    /// Exit codes: 0 done, 1 failure, 2 usage, 3 budget stop, 5 declined, 6 last Admin left (give
    /// --successor), 7 access still shown after the run. Sign in as a Fabric administrator
    /// (PBI_ACCESS_USERNAME/PBI_ACCESS_PASSWORD) for the admin endpoints that change access.
    ///
    /// Example: pbi-access offboard carol@contoso.com --successor alice@contoso.com --yes --output json
    Offboard {
        /// The departing user's UPN.
        upn: String,
        /// Who becomes Admin where the user is the only one.
        #[arg(long, value_name = "UPN")]
        successor: Option<String>,
        /// Show the plan and what would remain; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// The journal (default: offboard-UPN.journal; the plan is saved beside it).
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Resume the offboarding saved in this journal.
        #[arg(long, value_name = "JOURNAL", conflicts_with = "journal")]
        resume: Option<PathBuf>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Generate a large, realistic tenant into the database: users and guests, nested groups,
    /// licenses, capacities, workspaces of every kind and state, artifacts, shares, dataset
    /// permissions, subscriptions and 30 days of activity. The same seed makes the same tenant.
    ///
    /// Example: pbi-access seed --users 100000 --workspaces 10000 --seed 1 --database sqlite://big.db
    Seed {
        /// Users in the directory (at least 10).
        #[arg(long)]
        users: usize,
        /// Workspaces (at least 1).
        #[arg(long)]
        workspaces: usize,
        /// The random seed: the same seed and sizes make the same ids, names and memberships.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The tenant's domain (default seed{SEED}.onmicrosoft.com).
        #[arg(long)]
        domain: Option<String>,
        /// sqlite://PATH (default sqlite://pbi-access.db) or postgres://USER@HOST/DB.
        #[arg(long)]
        database: Option<String>,
        /// TOML configuration file (its `database` is used unless --database is given).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Exit 0 when the server answers its health check, 1 otherwise.
    ///
    /// Example: pbi-access healthcheck --url http://127.0.0.1:8080
    Healthcheck {
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Print the hosts-file entries and trust settings that point clients fixed to Microsoft's
    /// host names (fab, the PowerShell modules) at `serve --tls`.
    ///
    /// Example: pbi-access hosts --database sqlite://pbi-access.db
    Hosts {
        /// The address the names should resolve to.
        #[arg(long, default_value = "127.0.0.1")]
        address: String,
        /// The database `serve` uses (the generated CA lives beside a SQLite file).
        #[arg(long)]
        database: Option<String>,
        /// TOML configuration file, as for `serve`.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Where `serve --tls` keeps its generated CA (as `serve --tls-dir`).
        #[arg(long, value_name = "DIR")]
        tls_dir: Option<String>,
    },
}

/// Where the lifecycle commands connect, and how they print.
#[derive(clap::Args)]
struct Conn {
    /// Profile name in profiles.toml (PBI_ACCESS_* variables override it).
    #[arg(long, default_value = "default")]
    profile: String,
    /// The profiles file (default: $PBI_ACCESS_PROFILES or ~/.config/pbi-access/profiles.toml).
    #[arg(long)]
    profiles: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    output: cli::output::Format,
}

#[derive(Subcommand)]
enum ReviewCommand {
    /// Start a campaign: read who holds what over the scope (as `audit` does) and freeze it.
    Start {
        #[arg(long)]
        name: String,
        /// Every workspace (the scanner API).
        #[arg(long, conflicts_with_all = ["workspace", "name_contains"])]
        all: bool,
        /// A workspace by name or id (repeat for several).
        #[arg(long)]
        workspace: Vec<String>,
        /// The workspaces whose name contains this text.
        #[arg(long, conflicts_with = "workspace")]
        name_contains: Option<String>,
        /// Days until decisions close.
        #[arg(long, default_value_t = 14)]
        due_days: i64,
        /// Reviewers for every workspace in scope (default: each workspace's enabled Admin users).
        #[arg(long)]
        reviewer: Vec<String>,
        /// Who owns the campaign (default: the profile's user, else the application).
        #[arg(long)]
        owner: Option<String>,
        /// Days of the activity log to read for each user's last activity (0: not read; at most 30).
        /// Each day costs 24 admin calls; the days the admin budget cannot spare now are left out
        /// (and said), and days read once are kept for later campaigns.
        #[arg(long, default_value_t = 30)]
        lookback_days: i64,
        #[arg(long, env = "PBI_ACCESS_REVIEW_DATABASE", default_value = cli::review::DEFAULT_DATABASE)]
        database: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// The signed-in reviewer's rows (the profile's user): flags, recommendation, previous decision.
    Queue {
        campaign: uuid::Uuid,
        /// Only rows with this flag (guest-with-write-role, free-with-write-role, disabled-account, …).
        #[arg(long)]
        flag: Option<String>,
        /// `open`, or only rows with this decision.
        #[arg(long)]
        decision: Option<String>,
        /// Part of a principal's or workspace's name.
        #[arg(long)]
        search: Option<String>,
        /// Rows after this row number (the next page).
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long, env = "PBI_ACCESS_REVIEW_DATABASE", default_value = cli::review::DEFAULT_DATABASE)]
        database: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Decide on rows as the signed-in reviewer: keep, revoke, change (to a lower --role) or
    /// dont-know; revoke and change need --justification. All rows or none are recorded.
    Decide {
        campaign: uuid::Uuid,
        #[arg(required = true)]
        rows: Vec<i64>,
        #[arg(long)]
        decision: String,
        /// The lower role, with `change`.
        #[arg(long)]
        role: Option<String>,
        #[arg(long, default_value = "")]
        justification: String,
        #[arg(long, env = "PBI_ACCESS_REVIEW_DATABASE", default_value = cli::review::DEFAULT_DATABASE)]
        database: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Accept the recommendation of each row, as the signed-in reviewer.
    Accept {
        campaign: uuid::Uuid,
        #[arg(required = true)]
        rows: Vec<i64>,
        #[arg(long, env = "PBI_ACCESS_REVIEW_DATABASE", default_value = cli::review::DEFAULT_DATABASE)]
        database: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// The campaigns, newest first, with their progress.
    List {
        #[arg(long, env = "PBI_ACCESS_REVIEW_DATABASE", default_value = cli::review::DEFAULT_DATABASE)]
        database: String,
        #[arg(long, value_enum, default_value = "table")]
        output: cli::output::Format,
    },
    /// Write a campaign's evidence: JSON (snapshot, hash-chained decisions, results), CSV or a printable HTML report.
    Export {
        campaign: uuid::Uuid,
        #[arg(long, value_enum, default_value = "json")]
        format: cli::review::ExportFormat,
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, env = "PBI_ACCESS_REVIEW_DATABASE", default_value = cli::review::DEFAULT_DATABASE)]
        database: String,
    },
    /// Check a JSON export: exit 0 if no row or decision was changed since, 8 otherwise.
    Verify { file: PathBuf },
    /// Serve the review web application: people sign in at the profile's authority
    /// (authorization code + PKCE), Fabric administrators start, close and apply campaigns,
    /// reviewers decide in the browser.
    ///
    /// Example: pbi-access review serve --listen 127.0.0.1:8400
    Serve {
        #[arg(long, default_value = "127.0.0.1:8400")]
        listen: std::net::SocketAddr,
        /// The origin people reach the app at, when not http:// and the listen address (e.g. behind a TLS proxy).
        #[arg(long, env = "PBI_ACCESS_REVIEW_PUBLIC_URL")]
        public_url: Option<String>,
        /// The web application's client id at the authority (default: the demo tenant's "Access Review" app).
        #[arg(long, env = "PBI_ACCESS_REVIEW_CLIENT_ID", default_value = pbi_wire::oauth::DEMO_REVIEW_APP_ID)]
        client_id: String,
        /// Its client secret (default: the profile's).
        #[arg(long, env = "PBI_ACCESS_REVIEW_CLIENT_SECRET", hide_env_values = true)]
        client_secret: Option<String>,
        /// Where apply journals are kept (an interrupted apply resumes from them).
        #[arg(long, default_value = ".")]
        journal_dir: PathBuf,
        #[arg(long, env = "PBI_ACCESS_REVIEW_DATABASE", default_value = cli::review::DEFAULT_DATABASE)]
        database: String,
        #[command(flatten)]
        conn: Conn,
    },
}

/// `Conn` for `audit`, whose `--output` also offers `snapshot`.
#[derive(clap::Args)]
struct AuditConn {
    /// Profile name in profiles.toml (PBI_ACCESS_* variables override it).
    #[arg(long, default_value = "default")]
    profile: String,
    /// The profiles file (default: $PBI_ACCESS_PROFILES or ~/.config/pbi-access/profiles.toml).
    #[arg(long)]
    profiles: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    output: cli::audit::AuditFormat,
}

/// The flags of `serve`; each overrides the configuration file and the environment.
#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// sqlite://PATH (default sqlite://pbi-access.db) or postgres://USER@HOST/DB.
    #[arg(long)]
    pub database: Option<String>,
    /// Base URL clients reach this server at (default http://LISTEN).
    #[arg(long)]
    pub public_url: Option<String>,
    /// TOML configuration file; `PBI_ACCESS_*` variables and these flags override it.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Do not create the demo tenant on an empty database.
    #[arg(long)]
    pub no_demo: bool,
    /// Serve HTTPS. Without --tls-cert/--tls-key, a local CA and a certificate for localhost,
    /// 127.0.0.1 and ::1 are generated once into --tls-dir and reused.
    #[arg(long)]
    pub tls: bool,
    /// Where the generated ca.pem, cert.pem and key.pem live (default: pbi-access-tls beside the SQLite file).
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<String>,
    /// Serve this PEM certificate chain (with --tls-key) instead of a generated one; implies --tls.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<String>,
    /// The PEM private key of --tls-cert; implies --tls.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<String>,
}

/// The profile `conn` names, or the usage exit after saying why not.
fn profile(conn: &Conn) -> Result<cli::profile::Profile, ExitCode> {
    cli::profile::load(&conn.profile, conn.profiles.clone()).map_err(|e| {
        eprintln!("pbi-access: profile error: {e}");
        ExitCode::from(cli::exit::USAGE)
    })
}

async fn session(conn: &Conn) -> Result<cli::commands::Session, ExitCode> {
    let profile = profile(conn)?;
    cli::commands::connect(profile).await.map_err(|e| {
        eprintln!("pbi-access: {e}");
        ExitCode::from(cli::exit::USAGE)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve_command(args).await,
        Command::Healthcheck { url } => healthcheck(&url).await,
        Command::Hosts { address, database, config, tls_dir } => hosts_command(&address, database, config, tls_dir),
        Command::Workspaces { conn } => match session(&conn).await {
            Ok(s) => cli::commands::workspaces(&s, conn.output).await,
            Err(code) => code,
        },
        Command::Members { workspace, conn } => match session(&conn).await {
            Ok(s) => cli::commands::members(&s, &workspace, conn.output).await,
            Err(code) => code,
        },
        Command::Users { conn } => match session(&conn).await {
            Ok(s) => cli::users::users(&s, conn.output).await,
            Err(code) => code,
        },
        Command::Access { upn, conn } => match session(&conn).await {
            Ok(s) => cli::access::access(&s, &upn, conn.output).await,
            Err(code) => code,
        },
        Command::Who { artifact, conn } => match session(&conn).await {
            Ok(s) => cli::access::who(&s, &artifact, conn.output).await,
            Err(code) => code,
        },
        Command::Audit { workspace, all, out, since, journal, resume, eager_directory, conn } => {
            let options = cli::audit::AllOptions { since, journal, resume, profile_args: Vec::new(), eager_directory };
            audit_command(workspace, all, out, options, conn).await
        }
        Command::Rehearse { snapshot, command, profile, profiles } => {
            let mut args = vec!["--profile".to_string(), profile.clone()];
            if let Some(p) = &profiles {
                args.extend(["--profiles".to_string(), p.display().to_string()]);
            }
            match cli::profile::load(&profile, profiles) {
                Ok(profile) => cli::rehearse::rehearse(&profile, &args, snapshot.as_deref(), &command).await,
                Err(e) => {
                    eprintln!("pbi-access: profile error: {e}");
                    ExitCode::from(cli::exit::USAGE)
                }
            }
        }
        Command::Onboard { upn, workspace, role, license, dataset, permission, usage_location, license_wait, conn } => {
            let role = match cli::onboard::parse_role(&role) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("pbi-access: {e}");
                    return ExitCode::from(cli::exit::USAGE);
                }
            };
            let license_wait = std::time::Duration::from_secs(license_wait);
            let request =
                cli::onboard::Request { upn, workspaces: workspace, role, license, dataset, permission, usage_location, license_wait };
            match session(&conn).await {
                Ok(s) => cli::onboard::onboard(&s, &request, conn.output).await,
                Err(code) => code,
            }
        }
        Command::Review { command } => review_command(command).await,
        Command::Plan { desired, out, conn } => match session(&conn).await {
            Ok(s) => cli::commands::plan(&s, &desired, &out, conn.output).await,
            Err(code) => code,
        },
        Command::Apply { plan, journal, yes, conn } => match session(&conn).await {
            Ok(s) => cli::commands::apply_plan(&s, &plan, journal, yes).await,
            Err(code) => code,
        },
        Command::Offboard { upn, successor, dry_run, yes, journal, resume, conn } => {
            let options = cli::offboard::Options { upn, successor, dry_run, yes, journal, resume, format: conn.output };
            cli::offboard::main(&conn.profile, conn.profiles.clone(), options).await
        }
        Command::Tenant { command, database, config } => {
            let overrides = serde_json::json!({ "database": database });
            let overrides = if database.is_some() { overrides } else { serde_json::json!({}) };
            match load_config(config.as_deref(), overrides) {
                Ok(config) => tenant_cmd::run(command, &config.database).await,
                Err(code) => code,
            }
        }
        Command::Seed { users, workspaces, seed, domain, database, config } => {
            let overrides = database.map(|d| serde_json::json!({ "database": d })).unwrap_or_else(|| serde_json::json!({}));
            match load_config(config.as_deref(), overrides) {
                Ok(config) => generate(&config.database, SeedParams { users, workspaces, seed, domain }).await,
                Err(code) => code,
            }
        }
    }
}

/// `hosts`: the lines that point Microsoft's host names at this server, and the CA to trust.
fn hosts_command(address: &str, database: Option<String>, config: Option<PathBuf>, tls_dir: Option<String>) -> ExitCode {
    let mut overrides = serde_json::Map::new();
    if let Some(database) = database {
        overrides.insert("database".into(), database.into());
    }
    if let Some(dir) = tls_dir {
        overrides.insert("tls".into(), serde_json::json!({ "dir": dir }));
    }
    let config = match Config::load(config.as_deref(), &serde_json::Value::Object(overrides)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pbi-access: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let ca = config.tls.cert.is_none().then(|| {
        let ca = config.tls_dir().join("ca.pem");
        std::path::absolute(&ca).unwrap_or(ca)
    });
    print!("{}", pbi_server::hosts::setup_text(address, ca.as_deref()));
    if ca.as_ref().is_some_and(|ca| !ca.is_file()) {
        println!("# (the CA does not exist yet: the first `pbi-access serve --tls` with this database creates it)");
    }
    ExitCode::SUCCESS
}

/// `audit`: the session reads as a table whatever `--output` says (the format is the report's),
/// and a resumable `--all` run repeats the profile flags in its resume command.
async fn audit_command(
    workspace: Option<String>,
    all: bool,
    out: PathBuf,
    mut options: cli::audit::AllOptions,
    conn: AuditConn,
) -> ExitCode {
    let format = conn.output;
    if conn.profile != "default" {
        options.profile_args.extend(["--profile".to_string(), conn.profile.clone()]);
    }
    if let Some(p) = &conn.profiles {
        options.profile_args.extend(["--profiles".to_string(), p.display().to_string()]);
    }
    let plain = Conn { profile: conn.profile, profiles: conn.profiles, output: cli::output::Format::Table };
    match session(&plain).await {
        Ok(s) => cli::audit::audit(&s, workspace.as_deref(), all, format, &out, &options).await,
        Err(code) => code,
    }
}

/// `review …`: campaigns in the review database; `start` reads access through a session, the
/// other commands need only the profile (for the reviewer's sign-in) or nothing.
async fn review_command(command: ReviewCommand) -> ExitCode {
    match command {
        ReviewCommand::Start { name, all, workspace, name_contains, due_days, reviewer, owner, lookback_days, database, conn } => {
            let scope = match (all, workspace.is_empty(), name_contains) {
                (true, _, _) => cli::audit::ReviewScope::All,
                (false, false, _) => cli::audit::ReviewScope::Workspaces(workspace),
                (false, true, Some(text)) => cli::audit::ReviewScope::NameContains(text),
                (false, true, None) => {
                    eprintln!("pbi-access: give the scope: --all, --workspace W or --name-contains TEXT");
                    return ExitCode::from(cli::exit::USAGE);
                }
            };
            let options = cli::review::StartOptions { name, scope, due_days, reviewers: reviewer, owner, lookback_days };
            match session(&conn).await {
                Ok(s) => cli::review::start(&s, &database, &options).await,
                Err(code) => code,
            }
        }
        ReviewCommand::Queue { campaign, flag, decision, search, after, limit, database, conn } => match profile(&conn) {
            Ok(profile) => {
                let o = cli::review::QueueOptions { flag, decision, search, after, limit };
                cli::review::queue(&profile, &database, campaign, &o, conn.output).await
            }
            Err(code) => code,
        },
        ReviewCommand::Decide { campaign, rows, decision, role, justification, database, conn } => match profile(&conn) {
            Ok(profile) => {
                cli::review::decide(&profile, &database, campaign, &rows, Some(&decision), role.as_deref(), &justification).await
            }
            Err(code) => code,
        },
        ReviewCommand::Accept { campaign, rows, database, conn } => match profile(&conn) {
            Ok(profile) => cli::review::decide(&profile, &database, campaign, &rows, None, None, "").await,
            Err(code) => code,
        },
        ReviewCommand::List { database, output } => cli::review::list(&database, output).await,
        ReviewCommand::Export { campaign, format, out, database } => cli::review::export(&database, campaign, format, out.as_deref()).await,
        ReviewCommand::Verify { file } => cli::review::verify(&file),
        ReviewCommand::Serve { listen, public_url, client_id, client_secret, journal_dir, database, conn } => match profile(&conn) {
            Ok(profile) => {
                let options = review_web::Options { listen, database, public_url, client_id, client_secret, journal_dir };
                review_web::serve(profile, options).await
            }
            Err(code) => code,
        },
    }
}

/// `serve`: the configuration (file, environment, flags), logging, then the server.
async fn serve_command(args: ServeArgs) -> ExitCode {
    let ServeArgs { listen, database, public_url, config, log_format, no_demo, tls, tls_dir, tls_cert, tls_key } = args;
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
    let mut tls_overrides = serde_json::Map::new();
    if tls {
        tls_overrides.insert("enabled".into(), true.into());
    }
    for (key, value) in [("dir", tls_dir), ("cert", tls_cert), ("key", tls_key)] {
        if let Some(value) = value {
            tls_overrides.insert(key.into(), value.into());
        }
    }
    if !tls_overrides.is_empty() {
        overrides.insert("tls".into(), tls_overrides.into());
    }
    let config = match load_config(config.as_deref(), serde_json::Value::Object(overrides)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(config.log_format);
    serve(config).await
}

/// The configuration: the file, `PBI_ACCESS_*` variables, then `overrides` from the flags.
fn load_config(file: Option<&std::path::Path>, overrides: serde_json::Value) -> Result<Config, ExitCode> {
    Config::load(file, &overrides).map_err(|e| {
        eprintln!("pbi-access: configuration error: {e}");
        ExitCode::from(2)
    })
}

async fn generate(database: &str, params: SeedParams) -> ExitCode {
    let store = match Store::connect(database).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("pbi-access: cannot open {database}: {e}");
            return ExitCode::from(1);
        }
    };
    let seeded = match pbi_server::seed::generate(&store, &SystemClock, &params).await {
        Ok(seeded) => seeded,
        Err(e) => {
            eprintln!("pbi-access: seeding failed: {e}");
            return ExitCode::from(1);
        }
    };
    store.close().await;
    let c = &seeded.counts;
    println!("pbi-access seeded tenant {} in {:.1} s", seeded.domain, seeded.elapsed.as_secs_f64());
    println!("  tenant id      {}", seeded.tenant_id);
    println!("  client id      {}   (service principal \"automation\")", seeded.client_id);
    println!("  client secret  {}", seeded.client_secret);
    println!("  admin          {}   (Fabric administrator)", seeded.admin_upn);
    println!("  heavy user     {}   ({}, reaches about 5,000 items)", seeded.heavy_upn, seeded.heavy_id);
    println!("  password       {}   (every user)", seeded.password);
    println!(
        "  rows           {} users, {} groups with {} memberships, {} service principals, {} licenses, {} capacities",
        c.users, c.groups, c.group_members, c.service_principals, c.licenses, c.capacities
    );
    println!(
        "                 {} workspaces with {} roles, {} artifacts with {} permissions, {} subscriptions, {} activity events",
        c.workspaces, c.workspace_roles, c.artifacts, c.artifact_permissions, c.subscriptions, c.activity_events
    );
    ExitCode::SUCCESS
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
    // These go to stdout whatever the log format, so what a client needs is always shown.
    if let Some(files) = app.tls() {
        println!("{}", tls_banner(files));
    }
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

/// Where the certificate is, and how to make clients trust it.
fn tls_banner(files: &pbi_server::tls::TlsFiles) -> String {
    let shown = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    match &files.ca {
        Some(ca) => {
            let ca = shown(ca);
            format!(
                "\npbi-access serves HTTPS with a certificate for localhost, 127.0.0.1 and ::1 ({}) signed by a local CA.\n\
                 Clients must trust that CA: {ca}\n\
                 \n  export SSL_CERT_FILE={ca} REQUESTS_CA_BUNDLE={ca} CURL_CA_BUNDLE={ca}\n\
                 \n  (REQUESTS_CA_BUNDLE: Python requests, MSAL, azure-identity; SSL_CERT_FILE: OpenSSL-based clients; CURL_CA_BUNDLE: curl)",
                if files.generated { "generated now" } else { "kept from an earlier start" }
            )
        }
        None => format!("\npbi-access serves HTTPS with the certificate {} (key {}).", shown(&files.cert), shown(&files.key)),
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
