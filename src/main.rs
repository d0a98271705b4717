//! The `neiqin` command: parses what was typed into a `Config` or a one-shot command, runs it,
//! and maps errors to exit codes in one place. Nothing else lives here.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use neiqin::config::{self, Config, ConfigFile};
use neiqin::domain::role::Role;
use neiqin::{backup, import, node};

/// jemalloc instead of the C library's malloc. A node allocates and frees on many threads
/// (HTTP workers, blocking writers, the threads that prepare a merge), and glibc keeps a
/// separate arena per thread that it seldom gives back: after a full sync of 10,000 orders a
/// node held 410 MB, of which about 100 MB was live. With jemalloc it holds about 165 MB, the
/// full sync is about a fifth faster and a create uses less CPU (measured, see ARCHITECTURE.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "neiqin",
    version,
    about = "Offline-first sync node for a sales back office (内勤)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataArg {
    /// Data directory of the node.
    #[arg(long, env = "NEIQIN_DATA")]
    data: Option<PathBuf>,
    /// TOML config file (default: <data>/neiqin.toml when it exists).
    #[arg(long, env = "NEIQIN_CONFIG")]
    config: Option<PathBuf>,
}

/// Where a backup passphrase comes from: never a command-line argument (it would show in the
/// process list and the shell's history).
#[derive(clap::Args)]
struct PassphraseArg {
    /// File whose first line is the passphrase.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

impl PassphraseArg {
    fn read(&self) -> anyhow::Result<Option<String>> {
        if let Some(path) = &self.passphrase_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the passphrase file {}", path.display()))?;
            let pass = text.lines().next().unwrap_or("").to_string();
            anyhow::ensure!(
                !pass.is_empty(),
                "the passphrase file {} is empty",
                path.display()
            );
            return Ok(Some(pass));
        }
        Ok(std::env::var("NEIQIN_BACKUP_PASSPHRASE")
            .ok()
            .filter(|p| !p.is_empty()))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the node: local API, and sync with peers. Initialises the data directory on first start.
    Serve(ServeArgs),
    /// Initialise a data directory: node identity, an admin user, and either the company's cluster
    /// CA (the first node) or a join request for the admin node to approve (`--join`).
    Init {
        #[command(flatten)]
        data: DataArg,
        /// Name of this node, shown to its peers.
        #[arg(long, env = "NEIQIN_NAME")]
        name: String,
        /// Role of the people working on this node: clerk, supervisor, vp, warehouse, finance.
        #[arg(long, env = "NEIQIN_ROLE")]
        role: String,
        /// Join an existing company: make this node's key and a request file for the admin node
        /// (`neiqin node approve`), instead of a new cluster CA.
        #[arg(long)]
        join: bool,
        /// First node only: roles of its own certificate (warehouse, finance, office =
        /// clerk,supervisor,vp; comma-separated). Default: from --role.
        #[arg(long)]
        roles: Option<String>,
    },
    /// This node's certificate, and the admin node's cluster CA: join, approve, revoke.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Print a report from this node's store (stop the node first, or use the API's report routes).
    Report {
        #[command(subcommand)]
        report: ReportCommand,
    },
    /// Manage the node's users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Import a data set (fixtures format) with a progress bar.
    Import {
        #[command(flatten)]
        data: DataArg,
        file: PathBuf,
    },
    /// Write a backup of every document and attachment (file created 0600). Works while the
    /// node runs: a running node (at --from, or the configured listen address) is asked for it
    /// with the admin token of the data directory; a stopped node's store is read directly.
    Export {
        #[command(flatten)]
        data: DataArg,
        file: PathBuf,
        /// Base URL of the running node (default: the config's listen address, if it answers).
        #[arg(long)]
        from: Option<String>,
        /// Encrypt with a passphrase (from NEIQIN_BACKUP_PASSPHRASE or --passphrase-file).
        #[arg(long)]
        encrypt: bool,
        #[command(flatten)]
        passphrase: PassphraseArg,
    },
    /// Check every document's stored values (checksums, that they load, their heads) with the
    /// node stopped. Lists damaged documents by id; exits with 2 if any is damaged. A running
    /// node does the same at a low rate and lists them in /api/status.
    Check {
        #[command(flatten)]
        data: DataArg,
    },
    /// Merge a backup into this node; nothing the node already has is lost. An encrypted
    /// backup needs its passphrase.
    Restore {
        #[command(flatten)]
        data: DataArg,
        file: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseArg,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Make this node's key pair (0600) and a join or renewal request file; prints the
    /// fingerprint to read aloud to the admin.
    Request {
        #[command(flatten)]
        data: DataArg,
    },
    /// On the admin node: sign a request. Prints the node id and fingerprint to compare, and
    /// writes the certificate file to give back to the node.
    Approve {
        #[command(flatten)]
        data: DataArg,
        request: PathBuf,
        /// Roles the node may author facts of: warehouse, finance, office (= clerk,supervisor,vp),
        /// comma-separated.
        #[arg(long)]
        roles: String,
        /// Days until the certificate expires.
        #[arg(long, default_value_t = neiqin::pki::NODE_VALIDITY_DAYS)]
        days: i64,
        /// Where to write the certificate (default: <node id>.crt here).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Install the certificate file the admin node wrote for this node's request (a running
    /// node takes a renewed certificate within seconds; a joining node starts with it).
    Install {
        #[command(flatten)]
        data: DataArg,
        certificate: PathBuf,
    },
    /// Make this node the company's admin node with a new cluster CA and give it a certificate:
    /// for a data directory made before certificates (the node that will approve the others).
    InitCa {
        #[command(flatten)]
        data: DataArg,
        /// Roles of this node's own certificate (warehouse, finance, office = clerk,supervisor,vp).
        #[arg(long)]
        roles: String,
    },
    /// On the admin node: shut a node out (a lost or retired machine). Writes the next signed
    /// revocation list; this node enforces it within seconds, and every node that meets a holder
    /// of the list refuses the revoked node from then on.
    Revoke {
        #[command(flatten)]
        data: DataArg,
        /// The node id (as `neiqin node show` or `/api/status` print it).
        node_id: String,
        /// Why, kept in the list (丢失, 报废…).
        #[arg(long, default_value = "revoked by the admin")]
        reason: String,
    },
    /// Print this node's certificate: node id, roles, expiry, fingerprints.
    Show {
        #[command(flatten)]
        data: DataArg,
    },
    /// On the admin node: write the cluster CA, encrypted with a passphrase (from
    /// NEIQIN_BACKUP_PASSPHRASE or --passphrase-file), to move the admin role.
    ExportCa {
        #[command(flatten)]
        data: DataArg,
        file: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseArg,
    },
    /// Make this node the admin node with a CA written by `export-ca`.
    ImportCa {
        #[command(flatten)]
        data: DataArg,
        file: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseArg,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user and print their token (shown once; stored hashed).
    Add {
        #[command(flatten)]
        data: DataArg,
        name: String,
        #[arg(long)]
        role: String,
        /// Also give the user a workbench password, read from the first line of standard input
        /// (so it stays out of the shell history and the process list).
        #[arg(long)]
        password: bool,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// 销售额, 接单额, 未发货额 of one day.
    Daily {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        date: chrono::NaiveDate,
        #[command(flatten)]
        out: ReportOut,
    },
    /// Sales per store of one month (2026-10).
    Monthly {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        month: String,
        #[command(flatten)]
        out: ReportOut,
    },
    /// Statistics by region, channel, product, salesperson or store, by month.
    Sales {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_parser = ["region", "channel", "product", "salesperson", "store"])]
        by: String,
        #[arg(long)]
        from: chrono::NaiveDate,
        #[arg(long)]
        to: chrono::NaiveDate,
        #[command(flatten)]
        out: ReportOut,
    },
}

#[derive(Args)]
struct ReportOut {
    /// Write CSV (UTF-8 with BOM) or XLSX to this file, by its extension; print a table otherwise.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn write_report(table: neiqin::render::Table, out: &ReportOut) -> anyhow::Result<()> {
    match &out.out {
        None => print!("{}", table.to_text()),
        Some(path) => {
            let bytes = match path.extension().and_then(|e| e.to_str()) {
                Some("csv") => table.to_csv()?,
                Some("xlsx") => table.to_xlsx()?,
                _ => anyhow::bail!("--out must end in .csv or .xlsx"),
            };
            std::fs::write(path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("written {}", path.display());
        }
    }
    Ok(())
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArg,
    /// Local API address (default 127.0.0.1:7780).
    #[arg(long, env = "NEIQIN_LISTEN")]
    listen: Option<String>,
    /// Peer endpoint address (default 0.0.0.0:7781).
    #[arg(long, env = "NEIQIN_PEER_LISTEN")]
    peer_listen: Option<String>,
    /// A static peer HOST:PORT; repeat for several.
    #[arg(long = "peer", env = "NEIQIN_PEERS", value_delimiter = ',')]
    peers: Vec<String>,
    /// Turn mDNS discovery off (static peers only).
    #[arg(long, env = "NEIQIN_NO_MDNS")]
    no_mdns: bool,
    /// Name used if this start initialises the node.
    #[arg(long, env = "NEIQIN_NAME")]
    name: Option<String>,
    /// Role used if this start initialises the node.
    #[arg(long, env = "NEIQIN_ROLE")]
    role: Option<String>,
}

fn data_dir_and_file(data: &DataArg) -> anyhow::Result<(PathBuf, ConfigFile)> {
    let config_path = data.config.clone().or_else(|| {
        let dir = data
            .data
            .clone()
            .unwrap_or_else(|| config::DEFAULT_DATA_DIR.into());
        let candidate = dir.join(config::CONFIG_FILE_NAME);
        candidate.exists().then_some(candidate)
    });
    let file = match config_path {
        Some(path) => ConfigFile::read(&path)?,
        None => ConfigFile::default(),
    };
    let dir = data
        .data
        .clone()
        .or_else(|| file.data.clone())
        .unwrap_or_else(|| config::DEFAULT_DATA_DIR.into());
    Ok((dir, file))
}

fn serve_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let (data_dir, file) = data_dir_and_file(&args.data)?;
    let escalation = config::escalation(&file)?;
    let listen = args
        .listen
        .clone()
        .or(file.listen)
        .unwrap_or_else(|| config::DEFAULT_LISTEN.into());
    let peer_listen = args
        .peer_listen
        .clone()
        .or(file.peer_listen)
        .unwrap_or_else(|| config::DEFAULT_PEER_LISTEN.into());
    let peers = if args.peers.is_empty() {
        file.peers
    } else {
        args.peers.clone()
    };
    let role = args
        .role
        .clone()
        .or(file.role)
        .unwrap_or_else(|| "clerk".into());
    Ok(Config {
        data_dir,
        listen: config::parse_addr("listen", &listen)?,
        peer_listen: config::parse_addr("peer_listen", &peer_listen)?,
        peers: peers
            .iter()
            .map(|p| config::check_peer(p))
            .collect::<Result<_, _>>()?,
        mdns: !args.no_mdns && file.mdns.unwrap_or(true),
        mdns_interfaces: file.mdns_interfaces,
        name: args
            .name
            .clone()
            .or(file.name)
            .unwrap_or_else(|| "neiqin".into()),
        role: config::parse_role("role", &role)?,
        // A node `serve` initialises is the company's first: it holds the CA (and could sign
        // itself any role), so it is made all-in-one, and a trial works on one machine.
        certificate_roles: Role::BUSINESS.to_vec(),
        cache_docs: file.cache_docs.unwrap_or(2000),
        page_cache_mb: config::check_page_cache_mb(
            file.page_cache_mb.unwrap_or(config::DEFAULT_PAGE_CACHE_MB),
        )?,
        learn_peers: true,
        escalation,
    })
}

fn role_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn print_request(path: &std::path::Path, fingerprint: &str) {
    println!(
        "join request written to {}\n  fingerprint: {fingerprint} (read it aloud to the admin)\n\
         on the admin node: neiqin node approve {} --roles <warehouse|finance|office>\n\
         then here: neiqin node install <certificate file>",
        path.display(),
        path.display()
    );
}

/// `neiqin node …`: none of these opens the store, so they work while the node runs.
fn node_command(command: NodeCommand) -> anyhow::Result<()> {
    use neiqin::pki;
    let admin_ca = |dir: &std::path::Path| -> anyhow::Result<pki::ClusterCa> {
        pki::ClusterCa::load(dir)?.ok_or_else(|| {
            anyhow::anyhow!(
                "{} holds no cluster CA: approve on the admin node (the first node initialised)",
                dir.display()
            )
        })
    };
    match command {
        NodeCommand::Request { data } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let node_id = node_id_of(&dir)?;
            let (path, fingerprint) = pki::NodeCredentials::request(&dir, &node_id)?;
            print_request(&path, &fingerprint);
        }
        NodeCommand::Approve {
            data,
            request,
            roles,
            days,
            out,
        } => {
            anyhow::ensure!(
                (1..=3650).contains(&days),
                "--days must be between 1 and 3650"
            );
            let (dir, _) = data_dir_and_file(&data)?;
            let ca = admin_ca(&dir)?;
            let roles = pki::parse_roles(&roles)?;
            let request_pem = pki::read_file(&request)?;
            let parsed = pki::JoinRequest::parse(&request_pem)?;
            let cert = ca.approve(&request_pem, &roles, chrono::Utc::now(), days)?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{}.crt", parsed.node_id)));
            std::fs::write(&out, pki::bundle(&cert, ca.cert_pem()))
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "approved node {}\n  fingerprint: {} (must match what the node's person reads)\n  \
                 roles: {}, valid {days} days\ncertificate written to {}: give it to the node \
                 (neiqin node install {})",
                parsed.node_id,
                parsed.fingerprint,
                role_list(&roles),
                out.display(),
                out.display()
            );
        }
        NodeCommand::Install { data, certificate } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let request =
                pki::JoinRequest::parse(&pki::read_file(&dir.join(pki::NODE_REQUEST_FILE))?)?;
            let (cert, ca) = pki::split_bundle(&pki::read_file(&certificate)?)?;
            let installed = pki::NodeCredentials::install(
                &dir,
                &request.node_id,
                &cert,
                &ca,
                chrono::Utc::now(),
            )?;
            println!(
                "installed the certificate of node {} (roles {}, expires {}); a running node takes it \
                 within seconds (one that stopped syncing because its certificate had expired: \
                 restart it)",
                installed.node_id,
                role_list(&installed.roles),
                installed.not_after
            );
        }
        NodeCommand::InitCa { data, roles } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let roles = pki::parse_roles(&roles)?;
            if pki::ClusterCa::load(&dir)?.is_some() {
                // The admin node of a company made before signed facts: attest them only.
                let attested = node::attest_legacy_facts(&dir)?;
                println!(
                    "{} already holds the cluster CA; the facts recorded before signing were \
                     attested in {attested} document(s)",
                    dir.display()
                );
                return Ok(());
            }
            anyhow::ensure!(
                !dir.join(pki::NODE_CERT_FILE).exists(),
                "{} already has a certificate (of another node's CA); it cannot make its own",
                dir.display()
            );
            let office = node::open_office(&dir, 100)?;
            let name = office.identity.name.clone();
            let node_id = office.identity.node_id.clone();
            drop(office);
            let cert = node::create_cluster_ca(&dir, &name, &node_id, &roles)?;
            let attested = node::attest_legacy_facts(&dir)?;
            println!(
                "created the cluster CA (its key stays in {}) and this node's certificate \
                 (roles {}); CA fingerprint {}. The facts recorded before signing were attested \
                 in {attested} document(s), so they keep counting. Approve the other nodes from \
                 here.",
                dir.join(pki::CA_KEY_FILE).display(),
                role_list(&cert.roles),
                cert.ca_fingerprint
            );
        }
        NodeCommand::Revoke {
            data,
            node_id,
            reason,
        } => {
            use neiqin::revocation::{RevocationList, SignedRevocations};
            let (dir, _) = data_dir_and_file(&data)?;
            let ca = admin_ca(&dir)?;
            anyhow::ensure!(
                !node_id.is_empty()
                    && node_id.len() <= 64
                    && node_id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{node_id:?} is not a node id (hex digits, as `neiqin node show` prints it)"
            );
            anyhow::ensure!(
                reason.chars().count() <= 200,
                "--reason: at most 200 characters"
            );
            if let Some(own) = pki::NodeCredentials::load(&dir, chrono::Utc::now())? {
                anyhow::ensure!(
                    own.certificate.node_id != node_id,
                    "this is the admin node itself; it cannot revoke itself"
                );
            }
            let current = SignedRevocations::load(&dir, ca.cert_pem())?
                .map(|(list, _)| list)
                .unwrap_or_else(RevocationList::default);
            let (list, signed) = ca.revoke(&current, &node_id, &reason, chrono::Utc::now())?;
            signed.save(&dir)?;
            println!(
                "revocation list {} written ({} node(s) revoked); node {node_id} is refused by \
                 every node that holds it",
                list.number,
                list.revoked.len()
            );
        }
        NodeCommand::Show { data } => {
            let (dir, _) = data_dir_and_file(&data)?;
            match pki::NodeCredentials::load(&dir, chrono::Utc::now())? {
                Some(c) => println!(
                    "node {}\n  roles: {}\n  valid: {} to {}\n  key fingerprint: {}",
                    c.certificate.node_id,
                    role_list(&c.certificate.roles),
                    c.certificate.not_before,
                    c.certificate.not_after,
                    c.certificate.fingerprint
                ),
                None => println!("this node has no certificate yet (neiqin node request)"),
            }
            if let Some(ca) = pki::ClusterCa::load(&dir)? {
                println!(
                    "this is the admin node: CA fingerprint {}",
                    ca.fingerprint()
                );
            }
        }
        NodeCommand::ExportCa {
            data,
            file,
            passphrase,
        } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let ca = admin_ca(&dir)?;
            let pass = passphrase.read()?.ok_or_else(|| {
                anyhow::anyhow!("the CA leaves only encrypted: set NEIQIN_BACKUP_PASSPHRASE or --passphrase-file")
            })?;
            pki::write_secret_bytes(&file, &pki::seal_ca(&ca, &pass)?)?;
            println!(
                "cluster CA (fingerprint {}) written encrypted to {}",
                ca.fingerprint(),
                file.display()
            );
        }
        NodeCommand::ImportCa {
            data,
            file,
            passphrase,
        } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let pass = passphrase.read()?.ok_or_else(|| {
                anyhow::anyhow!("set NEIQIN_BACKUP_PASSPHRASE or --passphrase-file")
            })?;
            let sealed =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let ca = pki::open_ca(&sealed, &pass)?;
            ca.save(&dir)?;
            println!(
                "this node now holds the cluster CA (fingerprint {})",
                ca.fingerprint()
            );
        }
    }
    Ok(())
}

/// The node id of an initialised data directory, read from its pending request or certificate
/// (the store stays closed, so the node may be running).
fn node_id_of(dir: &std::path::Path) -> anyhow::Result<String> {
    use neiqin::pki;
    if let Ok(text) = pki::read_file(&dir.join(pki::NODE_REQUEST_FILE)) {
        return Ok(pki::JoinRequest::parse(&text)?.node_id);
    }
    let office = node::open_office(dir, 100)?;
    Ok(office.identity.node_id.clone())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = serve_config(&args)?;
    let running = node::start(config.clone()).await?;
    if let Some(token_file) = &running.first_start {
        println!(
            "initialised node {} in {}; admin token in {}",
            running.office.identity.name,
            config.data_dir.display(),
            token_file.display()
        );
    }
    println!(
        "neiqin {} serving on http://{}",
        running.office.identity.name, running.api_addr
    );
    if let Some(peer_addr) = running.peer_addr {
        println!("peer endpoint on {peer_addr}");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("stopping");
    running.shutdown().await
}

/// Exit code of `neiqin check` when it found damaged documents (1: it could not check).
const EXIT_DAMAGED: u8 = 2;

/// `neiqin check`: every document of the store, checked offline.
fn check(data: &DataArg) -> anyhow::Result<ExitCode> {
    let (dir, _) = data_dir_and_file(data)?;
    anyhow::ensure!(
        node::store_dir(&dir).exists(),
        "{} holds no store",
        dir.display()
    );
    let store = node::open_store(&dir, 100)?;
    let total = store.doc_ids(None)?.len();
    let mut damaged = Vec::new();
    let mut after: Option<String> = None;
    let started = std::time::Instant::now();
    loop {
        let step = store.scrub(after.as_deref(), 500)?;
        damaged.extend(step.damaged);
        for (doc, what) in &step.repaired {
            println!("repaired: {doc}: {what} (written again from the document)");
        }
        match step.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    for (doc, reason) in &damaged {
        println!("damaged: {doc}: {reason}");
    }
    tracing::info!(
        documents = total,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "store checked"
    );
    if damaged.is_empty() {
        println!(
            "checked {total} documents in {}: none damaged",
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "checked {total} documents in {}: {} damaged. Start the node with its peers to fetch \
         them again whole, or restore a backup (`neiqin restore`)",
        dir.display(),
        damaged.len()
    );
    Ok(ExitCode::from(EXIT_DAMAGED))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        // `main` runs it for its exit code.
        Command::Check { data } => check(&data).map(drop),
        Command::Serve(args) => tokio::runtime::Runtime::new()?.block_on(serve(args)),
        Command::Init {
            data,
            name,
            role,
            join,
            roles,
        } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let role = config::parse_role("role", &role)?;
            let certificate_roles = match roles {
                Some(text) => neiqin::pki::parse_roles(&text)?,
                None => role.default_certificate_roles(),
            };
            let joining = if join {
                node::Joining::Yes
            } else {
                node::Joining::No
            };
            let init =
                node::init_node_with_roles(&dir, &name, role, joining, &certificate_roles, 100)?;
            println!(
                "initialised node {name} ({}) in {}; admin token in {}",
                init.office.identity.node_id,
                dir.display(),
                init.admin_token_file.display()
            );
            match init.enrolment {
                node::Enrolment::Ca(cert) => println!(
                    "created the cluster CA (its key stays in {}) and this node's certificate \
                     (roles {})",
                    dir.join(neiqin::pki::CA_KEY_FILE).display(),
                    role_list(&cert.roles)
                ),
                node::Enrolment::Request { path, fingerprint } => {
                    print_request(&path, &fingerprint)
                }
            }
            Ok(())
        }
        Command::Node { command } => node_command(command),
        Command::Report { report } => {
            use neiqin::render::Table;
            match report {
                ReportCommand::Daily { data, date, out } => {
                    let office = node::open_office(&data_dir_and_file(&data)?.0, 100)?;
                    write_report(Table::daily(&office.daily_report(date)?.report), &out)
                }
                ReportCommand::Monthly { data, month, out } => {
                    let office = node::open_office(&data_dir_and_file(&data)?.0, 100)?;
                    write_report(Table::monthly(&office.monthly_report(&month)?.report), &out)
                }
                ReportCommand::Sales {
                    data,
                    by,
                    from,
                    to,
                    out,
                } => {
                    let office = node::open_office(&data_dir_and_file(&data)?.0, 100)?;
                    let by: neiqin::domain::report::Dimension =
                        serde_json::from_value(serde_json::Value::String(by))?;
                    write_report(
                        Table::stats(&office.sales_stats(by, from, to)?.report),
                        &out,
                    )
                }
            }
        }
        Command::User {
            command:
                UserCommand::Add {
                    data,
                    name,
                    role,
                    password,
                },
        } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let role: Role = config::parse_role("role", &role)?;
            let password = if password {
                eprintln!("password for {name} (one line on standard input):");
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let office = node::open_office(&dir, 100)?;
            let token = office.add_user_with_password(&name, role, password.as_deref())?;
            println!("{token}");
            Ok(())
        }
        Command::Import { data, file } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let set = import::parse(&bytes).with_context(|| format!("{}", file.display()))?;
            let office = node::open_office(&dir, 100)?;
            let bar = indicatif::ProgressBar::new(
                (set.customers.len()
                    + set.contracts.len()
                    + set.orders.len()
                    + set.complaints.len()) as u64,
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let counts = import::import(&office, &set, |done, _| bar.set_position(done as u64))?;
            bar.finish_and_clear();
            drop(office);
            node::checkpoint(&dir)?;
            println!(
                "imported {} customers, {} contracts, {} orders, {} complaints, {} facts",
                counts.customers, counts.contracts, counts.orders, counts.complaints, counts.facts
            );
            Ok(())
        }
        Command::Export {
            data,
            file,
            from,
            encrypt,
            passphrase,
        } => {
            let (dir, config_file) = data_dir_and_file(&data)?;
            let pass = passphrase.read()?;
            anyhow::ensure!(
                !encrypt || pass.is_some(),
                "--encrypt needs a passphrase: set NEIQIN_BACKUP_PASSPHRASE or give --passphrase-file"
            );
            let pass = if encrypt { pass } else { None };
            let listen = config_file
                .listen
                .clone()
                .unwrap_or_else(|| config::DEFAULT_LISTEN.to_string());
            // A stopped node's store is read directly; a running one holds the store's lock, so
            // it is asked for the backup instead (the store is opened first, so a node of another
            // data directory answering on the same port is never asked).
            let direct = match &from {
                Some(_) => None,
                None => match node::open_office(&dir, 100) {
                    Ok(office) => Some(office),
                    Err(open_error) => {
                        if running_node(&format!("http://{listen}")).is_none() {
                            return Err(open_error);
                        }
                        None
                    }
                },
            };
            let summary = match direct {
                Some(office) => {
                    let counts = backup::write_file(&file, pass.as_deref(), |out| {
                        Ok(backup::export(&office, out)?)
                    })?;
                    format!(
                        "exported {} documents and {} attachments",
                        counts.documents, counts.attachments
                    )
                }
                None => {
                    let url = from.unwrap_or_else(|| format!("http://{listen}"));
                    let token = std::fs::read_to_string(dir.join(node::ADMIN_TOKEN_FILE))
                        .with_context(|| {
                            format!("cannot read the admin token in {}", dir.display())
                        })?;
                    let bytes = backup::write_file(&file, pass.as_deref(), |out| {
                        export_from_node(&url, token.trim(), out)
                    })?;
                    format!("exported {bytes} bytes from the running node at {url}")
                }
            };
            println!(
                "{summary} to {}{}",
                file.display(),
                if encrypt { " (encrypted)" } else { "" }
            );
            Ok(())
        }
        Command::Restore {
            data,
            file,
            passphrase,
        } => {
            let (dir, _) = data_dir_and_file(&data)?;
            let input = backup::open_file(&file, passphrase.read()?.as_deref())?;
            let office = node::open_office(&dir, 100)?;
            let counts = backup::restore(&office, input)
                .with_context(|| format!("{} was not restored", file.display()))?;
            drop(office);
            node::checkpoint(&dir)?;
            println!(
                "restored {} documents and {} attachments",
                counts.documents, counts.attachments
            );
            Ok(())
        }
    }
}

/// The URL of a node answering on `base`, if one does.
fn running_node(base: &str) -> Option<String> {
    let runtime = tokio::runtime::Runtime::new().ok()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .ok()?;
        let resp = client.get(format!("{base}/api/health")).send().await.ok()?;
        resp.status().is_success().then(|| base.to_string())
    })
}

/// Streams a running node's backup into `out`; returns the bytes written.
fn export_from_node(base: &str, token: &str, out: &mut dyn Write) -> anyhow::Result<u64> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build()?;
        let mut resp = client
            .get(format!("{base}/api/backup"))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("cannot reach the node at {base}"))?;
        anyhow::ensure!(
            resp.status().is_success(),
            "the node at {base} refused the backup: {}",
            resp.status()
        );
        let mut written = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .context("the backup transfer broke off; no file was written")?
        {
            out.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        Ok(written)
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEIQIN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check { data } => check(data),
        _ => run(cli).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
