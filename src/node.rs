//! The one place that opens the store, wires the parts, spawns the tasks and shuts them down.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::domain::role::Role;
use crate::http::{self, AppState};
use crate::identity::NodeIdentity;
use crate::service::BackOffice;
use crate::store::Store;
use crate::sync::peers::PeerTable;
use crate::views::BackOfficeProjector;

pub const ADMIN_TOKEN_FILE: &str = "admin.token";

pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Opens the store in `data_dir`, with a clear message when another process holds it.
pub fn open_store(data_dir: &Path, cache_docs: usize) -> anyhow::Result<Arc<Store>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let store = Store::open(
        &store_dir(data_dir),
        Arc::new(BackOfficeProjector),
        cache_docs,
    )
    .with_context(|| {
        format!(
            "cannot open the store in {} (is another neiqin using it?)",
            data_dir.display()
        )
    })?;
    Ok(Arc::new(store))
}

/// Opens an initialised node's back office.
pub fn open_office(data_dir: &Path, cache_docs: usize) -> anyhow::Result<BackOffice> {
    let store = open_store(data_dir, cache_docs)?;
    let identity = NodeIdentity::load(&store)?.with_context(|| {
        format!(
            "{} is not an initialised node; run `neiqin init --data {}` or `neiqin serve`",
            data_dir.display(),
            data_dir.display()
        )
    })?;
    Ok(BackOffice::new(store, identity))
}

/// What `init` did: the node, and where the admin token was written.
pub struct Initialised {
    pub office: BackOffice,
    pub admin_token_file: PathBuf,
}

/// Initialises a node: identity (joining a cluster when a key is given) and an admin user whose
/// token is written to `<data>/admin.token`, readable only by its owner.
pub fn init_node(
    data_dir: &Path,
    name: &str,
    role: Role,
    cluster_key: Option<String>,
    cache_docs: usize,
) -> anyhow::Result<Initialised> {
    initialise(open_store(data_dir, cache_docs)?, data_dir, name, role, cluster_key)
}

fn initialise(
    store: Arc<Store>,
    data_dir: &Path,
    name: &str,
    role: Role,
    cluster_key: Option<String>,
) -> anyhow::Result<Initialised> {
    if let Some(existing) = NodeIdentity::load(&store)? {
        anyhow::bail!(
            "{} is already initialised as node {} ({})",
            data_dir.display(),
            existing.name,
            existing.node_id
        );
    }
    let identity = NodeIdentity::generate(store.node_id(), name, role, cluster_key);
    identity.save(&store)?;
    let office = BackOffice::new(store, identity);
    let token = office.add_user("admin", Role::Admin)?;
    let admin_token_file = data_dir.join(ADMIN_TOKEN_FILE);
    write_secret(&admin_token_file, &token)?;
    Ok(Initialised {
        office,
        admin_token_file,
    })
}

/// Writes a secret file with owner-only permissions.
pub fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    std::fs::write(path, format!("{secret}\n"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// A node serving its local API (and, once sync starts, its peers).
pub struct RunningNode {
    pub api_addr: std::net::SocketAddr,
    /// The peer endpoint, once sync runs.
    pub peer_addr: Option<std::net::SocketAddr>,
    pub office: BackOffice,
    pub peers: PeerTable,
    /// Set when this start initialised the node: where its admin token is.
    pub first_start: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningNode {
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops every task, then flushes the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.office.store.stop_group_commit().await;
        self.office.store.flush()?;
        Ok(())
    }
}

async fn until_shutdown(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Starts a node: initialises it on first start, then serves the local API.
pub async fn start(config: Config) -> anyhow::Result<RunningNode> {
    let data_dir = &config.data_dir;
    let store = open_store(data_dir, config.cache_docs)?;
    let (office, first_start) = match NodeIdentity::load(&store)? {
        Some(identity) => (BackOffice::new(store, identity), None),
        None => {
            let init = initialise(store, data_dir, &config.name, config.role, None)?;
            (init.office, Some(init.admin_token_file))
        }
    };
    office.store.start_group_commit();
    let peers = PeerTable::default();
    let (shutdown, _) = watch::channel(false);

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let api_addr = listener.local_addr()?;
    let state = AppState {
        office: office.clone(),
        peers: peers.clone(),
        started: Arc::new(Instant::now()),
    };
    let app = http::app(state);
    let stop = until_shutdown(shutdown.subscribe());
    let api_task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "local API stopped");
        }
    });
    Ok(RunningNode {
        api_addr,
        peer_addr: None,
        office,
        peers,
        first_start,
        shutdown,
        tasks: vec![api_task],
    })
}
