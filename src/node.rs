//! The one place that opens the store, wires the parts, spawns the tasks and shuts them down.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::authority::{Authority, AuthorityHandle};
use crate::config::Config;
use crate::domain::role::Role;
use crate::http::{self, AppState};
use crate::identity::NodeIdentity;
use crate::net::{self, client::PeerClient, server::PeerServer, syncer::SyncManager, tls::PeerTls};
use crate::pki;
use crate::service::BackOffice;
use crate::store::{Store, StoreError};
use crate::sync::peers::FoundBy;
use crate::sync::peers::PeerTable;
use crate::sync::protocol::{Hello, PROTOCOL_VERSION};
use crate::views::BackOfficeProjector;

pub const ADMIN_TOKEN_FILE: &str = "admin.token";

pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Opens the store in `data_dir`. A failure says what failed and what to do: another process
/// holds it, sled's files are damaged, or a newer neiqin wrote it (`StoreError`).
pub fn open_store(data_dir: &Path, cache_docs: usize) -> anyhow::Result<Arc<Store>> {
    open_store_with_page_cache(data_dir, cache_docs, crate::store::DEFAULT_PAGE_CACHE_BYTES)
}

/// `open_store` with sled's page cache of `page_cache_bytes`.
pub fn open_store_with_page_cache(
    data_dir: &Path,
    cache_docs: usize,
    page_cache_bytes: u64,
) -> anyhow::Result<Arc<Store>> {
    Ok(open_store_with_authority(data_dir, cache_docs, page_cache_bytes)?.0)
}

/// The store and the authority its projector checks facts with (loaded from the data
/// directory's certificates; `BackOffice::with_authority` shares it).
pub fn open_store_with_authority(
    data_dir: &Path,
    cache_docs: usize,
    page_cache_bytes: u64,
) -> anyhow::Result<(Arc<Store>, AuthorityHandle)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let authority = AuthorityHandle::new(
        Authority::load(data_dir).context("this node's certificates cannot be read")?,
    );
    let store = Store::open_with_page_cache(
        &store_dir(data_dir),
        Arc::new(BackOfficeProjector {
            authority: authority.clone(),
        }),
        cache_docs,
        page_cache_bytes,
    )
    .map_err(|e| match e {
        StoreError::Locked { .. }
        | StoreError::DamagedFiles { .. }
        | StoreError::NewerFormat { .. } => anyhow::Error::new(e),
        e => anyhow::Error::new(e)
            .context(format!("cannot open the store in {}", data_dir.display())),
    })?;
    for index in crate::views::RETIRED_INDEXES {
        let removed = store
            .drop_index(index)
            .with_context(|| format!("cannot remove the retired index {index}"))?;
        if removed > 0 {
            tracing::info!(index, removed, "retired index removed");
        }
    }
    reproject_if_older(&store)?;
    Ok((Arc::new(store), authority))
}

/// Projects every document again when the store was projected by an older version (statuses
/// and index values it wrote mean something else now); records the version once done, so an
/// interrupted pass runs again at the next start.
fn reproject_if_older(store: &Store) -> anyhow::Result<()> {
    const KEY: &str = "projection_version";
    let stored = store
        .meta_get(KEY)?
        .and_then(|bytes| bytes.try_into().ok().map(u32::from_be_bytes))
        .unwrap_or(1);
    if stored >= crate::views::PROJECTION_VERSION {
        return Ok(());
    }
    let started = Instant::now();
    let changed = store
        .reproject_all()
        .context("cannot bring the store's indexes up to this version")?;
    store.meta_put(KEY, &crate::views::PROJECTION_VERSION.to_be_bytes())?;
    store.flush()?;
    tracing::info!(
        changed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "indexes and summaries projected again for this version"
    );
    Ok(())
}

/// Makes the next start fast. sled writes its snapshot only when it opens a database and
/// replays the whole log written since the last one, so after a bulk import (or a long run) the
/// first start pays for everything written; opening once more here pays it now instead.
/// Call with no other handle on the store open.
pub fn checkpoint(data_dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    drop(open_store(data_dir, 1)?);
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "store checkpointed"
    );
    Ok(())
}

/// Opens an initialised node's back office.
pub fn open_office(data_dir: &Path, cache_docs: usize) -> anyhow::Result<BackOffice> {
    let (store, authority) =
        open_store_with_authority(data_dir, cache_docs, crate::store::DEFAULT_PAGE_CACHE_BYTES)?;
    let identity = NodeIdentity::load(&store)?.with_context(|| {
        format!(
            "{} is not an initialised node; run `neiqin init --data {}` or `neiqin serve`",
            data_dir.display(),
            data_dir.display()
        )
    })?;
    let office = BackOffice::new(store, identity).with_authority(authority);
    load_certificate(&office, data_dir);
    Ok(office)
}

/// What `init` did: the node, and where the admin token was written.
pub struct Initialised {
    pub office: BackOffice,
    pub admin_token_file: PathBuf,
    pub enrolment: Enrolment,
}

/// Initialises a node: identity and an admin user whose token is written to
/// `<data>/admin.token`, readable only by its owner.
///
/// The first node of a company (`Joining::No`) also creates the cluster CA and its own
/// certificate, with every business role (benches and embedding; the CLI names the roles with
/// [`init_node_with_roles`]). A joining node makes its key and a join request (`pki`).
pub fn init_node(
    data_dir: &Path,
    name: &str,
    role: Role,
    joining: Joining,
    cache_docs: usize,
) -> anyhow::Result<Initialised> {
    init_node_with_roles(data_dir, name, role, joining, &Role::BUSINESS, cache_docs)
}

/// Whether `init` joins an existing company or starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joining {
    /// The company's first node: it makes the cluster CA.
    No,
    /// Another node: it makes a join request for the admin node to approve.
    Yes,
}

/// [`init_node`], the first node's certificate naming `certificate_roles`.
pub fn init_node_with_roles(
    data_dir: &Path,
    name: &str,
    role: Role,
    joining: Joining,
    certificate_roles: &[Role],
    cache_docs: usize,
) -> anyhow::Result<Initialised> {
    let (store, authority) =
        open_store_with_authority(data_dir, cache_docs, crate::store::DEFAULT_PAGE_CACHE_BYTES)?;
    initialise(
        store,
        authority,
        data_dir,
        name,
        role,
        joining,
        certificate_roles,
    )
}

fn initialise(
    store: Arc<Store>,
    authority: AuthorityHandle,
    data_dir: &Path,
    name: &str,
    role: Role,
    joining: Joining,
    certificate_roles: &[Role],
) -> anyhow::Result<Initialised> {
    if let Some(existing) = NodeIdentity::load(&store)? {
        anyhow::bail!(
            "{} is already initialised as node {} ({})",
            data_dir.display(),
            existing.name,
            existing.node_id
        );
    }
    let identity = NodeIdentity::generate(store.node_id(), name, role);
    // Keys before the identity: a start that fails here leaves no half-made node behind.
    let enrolment = if joining == Joining::No {
        Enrolment::Ca(create_cluster_ca(
            data_dir,
            name,
            &identity.node_id,
            certificate_roles,
        )?)
    } else {
        let (path, fingerprint) = pki::NodeCredentials::request(data_dir, &identity.node_id)?;
        Enrolment::Request { path, fingerprint }
    };
    identity.save(&store)?;
    // The first node has its key and certificate now: it signs and checks from here on.
    authority.set(Authority::load(data_dir)?);
    let office = BackOffice::new(store, identity).with_authority(authority);
    if let Enrolment::Ca(certificate) = &enrolment {
        office.set_certificate(certificate.clone());
    }
    let token = office.add_user("admin", Role::Admin)?;
    let admin_token_file = data_dir.join(ADMIN_TOKEN_FILE);
    write_secret(&admin_token_file, &token)?;
    Ok(Initialised {
        office,
        admin_token_file,
        enrolment,
    })
}

/// What `init` did about this node's certificate.
pub enum Enrolment {
    /// Created the cluster CA and this node's certificate.
    Ca(pki::NodeCertificate),
    /// Wrote a join request for the admin node to approve.
    Request { path: PathBuf, fingerprint: String },
}

/// The first node of a company: a new CA (its key stays here, 0600) and this node's own
/// certificate, signed at once.
/// Moves a data directory made before signed facts onto them: the CA (held here) attests, in
/// each document, the unsigned facts it holds, so they keep counting; every document is then
/// projected again under the node's authority. Returns how many documents were attested.
/// Unsigned facts this node does not hold now will not count when they arrive (an anomaly shows
/// them). Run by `neiqin node init-ca`, on the node that holds the most complete store.
pub fn attest_legacy_facts(data_dir: &Path) -> anyhow::Result<usize> {
    let ca = pki::ClusterCa::load(data_dir)?
        .with_context(|| format!("{} holds no cluster CA", data_dir.display()))?;
    let office = open_office(data_dir, 100)?;
    let author = crate::domain::record::ChangeAuthor {
        user: "admin".into(),
        role: Role::Admin.to_string(),
        action: "attest the facts recorded before signing".into(),
    };
    let mut attested = 0;
    for doc_id in office.store.doc_ids(None)? {
        let Some(record) = office.store.record(&doc_id)? else {
            continue;
        };
        if record.field(crate::authority::LEGACY_FIELD).is_some() {
            continue;
        }
        let Some(value) = crate::authority::attest_legacy_facts(&ca, &doc_id, &record)? else {
            continue;
        };
        office
            .store
            .update(&doc_id, &author, |_| {
                Ok::<_, crate::store::StoreError>(vec![crate::domain::record::RecordOp::field(
                    crate::authority::LEGACY_FIELD,
                    value,
                )])
            })
            .map_err(|e| anyhow::anyhow!("cannot attest the facts of {doc_id}: {e}"))?;
        attested += 1;
    }
    office.store.reproject_all()?;
    office.store.flush()?;
    Ok(attested)
}

/// Makes the cluster CA in `data_dir` and this node's certificate with `roles`: at a company's
/// first `init`, and to migrate a data directory made before certificates (`node init-ca`).
pub fn create_cluster_ca(
    data_dir: &Path,
    company: &str,
    node_id: &str,
    roles: &[Role],
) -> anyhow::Result<pki::NodeCertificate> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let ca = pki::ClusterCa::generate(company)?;
    ca.save(data_dir)?;
    let (request_path, _) = pki::NodeCredentials::request(data_dir, node_id)?;
    let request = pki::read_file(&request_path)?;
    let now = chrono::Utc::now();
    let cert = ca.approve(&request, roles, now, pki::NODE_VALIDITY_DAYS)?;
    Ok(pki::NodeCredentials::install(
        data_dir,
        node_id,
        &cert,
        ca.cert_pem(),
        now,
    )?)
}

/// Loads the node's certificate at start. An expired or unusable one is logged with what to
/// do; the node still serves its own people (offline first).
fn load_certificate(office: &BackOffice, data_dir: &Path) {
    match pki::NodeCredentials::load(data_dir, chrono::Utc::now()) {
        Ok(Some(credentials)) => office.set_certificate(credentials.certificate),
        Ok(None) => tracing::warn!(
            "this node has no certificate yet: run `neiqin node request` here, \
             `neiqin node approve` on the admin node, then `neiqin node install`"
        ),
        Err(e) => tracing::error!(error = %e, "this node's certificate is not usable"),
    }
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
    /// The peer link's TLS and revocation list (None when the node works alone).
    pub peer_tls: Option<PeerTls>,
    pub office: BackOffice,
    pub peers: PeerTable,
    /// Set when this start initialised the node: where its admin token is.
    pub first_start: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    /// None when the node works alone (its certificate expired).
    sync: Option<SyncManager>,
    tasks: Vec<JoinHandle<()>>,
    data_dir: PathBuf,
}

impl RunningNode {
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops every task, then flushes the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        if let Some(sync) = &self.sync {
            sync.stop().await;
        }
        for task in self.tasks {
            let _ = task.await;
        }
        self.office.store.stop_group_commit().await;
        self.office.store.flush()?;
        let data_dir = self.data_dir;
        drop(self.office);
        drop(self.sync);
        if let Err(e) = checkpoint(&data_dir) {
            tracing::warn!(error = %e, "no checkpoint at shutdown; the next start replays the log");
        }
        Ok(())
    }
}

/// How often a node whose disk ran full looks whether writing works again.
const DISK_FULL_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// While a write has failed for lack of disk space, tries every `DISK_FULL_RETRY` whether the
/// store can write again (`Store::recover_storage`), so that writes resume without a restart.
async fn recover_storage_when_space_is_back(store: Arc<Store>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(DISK_FULL_RETRY) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if !store.disk_full() {
            continue;
        }
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.recover_storage()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the store could not be reopened yet"),
            Err(e) => tracing::warn!(error = %e, "the store could not be reopened yet"),
        }
    }
}

/// Documents the scrub checks at a time, and the pause between two such steps: about 50
/// documents a second, a few milliseconds of one core (a check reads and loads the document).
const SCRUB_BATCH: usize = 50;
const SCRUB_STEP: std::time::Duration = std::time::Duration::from_secs(1);
/// The pause between two passes over the whole store.
const SCRUB_PASS_PAUSE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Walks the whole store at a low rate from the start, over and over, checking every
/// document's stored values (`Store::scrub`): a damaged one is listed in `/api/status` and
/// fetched again whole from a peer by sync; one that reads well again is taken off the list.
async fn scrub(store: Arc<Store>, mut stop: watch::Receiver<bool>) {
    let mut after: Option<String> = None;
    let mut found = 0usize;
    let mut checked_from = Instant::now();
    loop {
        let (scrubbing, from) = (store.clone(), after.clone());
        match tokio::task::spawn_blocking(move || scrubbing.scrub(from.as_deref(), SCRUB_BATCH))
            .await
        {
            Ok(Ok(step)) => {
                found += step.damaged.len();
                after = step.next;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "the scrub could not read the store"),
            Err(e) => tracing::warn!(error = %e, "the scrub stopped"),
        }
        let pause = if after.is_none() {
            let elapsed_s = checked_from.elapsed().as_secs();
            if found > 0 {
                tracing::warn!(damaged = found, elapsed_s, "scrub pass done");
            } else {
                tracing::debug!(elapsed_s, "scrub pass done: nothing damaged");
            }
            found = 0;
            SCRUB_PASS_PAUSE
        } else {
            SCRUB_STEP
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if after.is_none() {
            checked_from = Instant::now();
        }
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
    let (store, authority) =
        open_store_with_authority(data_dir, config.cache_docs, config.page_cache_mb << 20)?;
    let (office, first_start) = match NodeIdentity::load(&store)? {
        Some(identity) => (
            BackOffice::new(store, identity).with_authority(authority),
            None,
        ),
        None => {
            let init = initialise(
                store,
                authority,
                data_dir,
                &config.name,
                config.role,
                Joining::No,
                &config.certificate_roles,
            )?;
            (init.office, Some(init.admin_token_file))
        }
    };
    let office = office.with_escalation(config.escalation);
    let credentials = peer_credentials(data_dir)?;
    if let Some(credentials) = &credentials {
        office.set_certificate(credentials.certificate.clone());
    }
    office.store.start_group_commit();
    let peers = PeerTable::default();
    let (shutdown, _) = watch::channel(false);

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let api_addr = listener.local_addr()?;
    let state = AppState::new(office.clone(), peers.clone())
        .with_discovery(config.mdns || !config.peers.is_empty());
    let app = http::app(state);
    let stop = until_shutdown(shutdown.subscribe());
    let api_task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "local API stopped");
        }
    });

    let storage_task = tokio::spawn(recover_storage_when_space_is_back(
        office.store.clone(),
        shutdown.subscribe(),
    ));
    let scrub_task = tokio::spawn(scrub(office.store.clone(), shutdown.subscribe()));
    let mut tasks = vec![api_task, storage_task, scrub_task];
    let (peer_addr, sync, peer_tls) = match credentials {
        Some(credentials) => {
            let (peer_addr, sync, mut sync_tasks, tls) =
                start_sync(&config, &office, credentials, &peers, &shutdown).await?;
            tasks.append(&mut sync_tasks);
            (Some(peer_addr), Some(sync), Some(tls))
        }
        None => (None, None, None),
    };
    Ok(RunningNode {
        api_addr,
        peer_addr,
        peer_tls,
        office,
        peers,
        first_start,
        shutdown,
        sync,
        tasks,
        data_dir: config.data_dir.clone(),
    })
}

/// Starts the peer endpoint, the sync loops for static peers, and (unless turned off) mDNS.
async fn start_sync(
    config: &Config,
    office: &BackOffice,
    credentials: pki::NodeCredentials,
    peers: &PeerTable,
    shutdown: &watch::Sender<bool>,
) -> anyhow::Result<(
    std::net::SocketAddr,
    SyncManager,
    Vec<JoinHandle<()>>,
    PeerTls,
)> {
    let identity = &office.identity;
    let tls = PeerTls::for_node(&credentials, &config.data_dir, office.authority_handle())?;
    let listener = TcpListener::bind(config.peer_listen)
        .await
        .with_context(|| format!("cannot listen for peers on {}", config.peer_listen))?;
    let peer_addr = listener.local_addr()?;
    let me = Hello {
        version: PROTOCOL_VERSION,
        node_id: identity.node_id.clone(),
        name: identity.name.clone(),
        role: identity.role.to_string(),
        peer_port: peer_addr.port(),
        revocations: 0,
        revocation_list: None,
        certificates: 0,
        certificate_list: Vec::new(),
    };
    let (callers_tx, callers_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = PeerServer {
        office: office.clone(),
        me: me.clone(),
        tls: tls.clone(),
        durable: office.store.durable_seq(),
        peers: peers.clone(),
        callers: callers_tx,
        shutdown: shutdown.subscribe(),
        body_budget: net::server::body_budget(),
    };
    let app = net::server::router(server);
    let server_task = tokio::spawn(net::server::serve(
        listener,
        app,
        tls.clone(),
        shutdown.subscribe(),
    ));
    let client = PeerClient::new(tls.clone());
    let sync = SyncManager::new(
        office.clone(),
        client,
        me,
        peers.clone(),
        shutdown.subscribe(),
    );
    for peer in &config.peers {
        sync.add(peer.clone(), FoundBy::Static);
    }
    // The tallies (sums across orders for reports and receivables) are built before the
    // first page needs them: about a second at 100,000 orders; writes go on meanwhile.
    let warming = office.store.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = warming.build_tallies() {
            tracing::warn!(error = %e, "cannot build the report tallies; the first report will try again");
        }
    });
    let mut tasks = vec![
        server_task,
        tokio::spawn(reload_from_data_dir(
            tls.clone(),
            office.clone(),
            config.data_dir.clone(),
            credentials.cert_pem.clone(),
            shutdown.subscribe(),
        )),
        tokio::spawn(reproject_when_authority_changes(
            office.clone(),
            shutdown.subscribe(),
        )),
    ];
    if config.learn_peers {
        tasks.push(sync.learn_callers(callers_rx));
    }
    if config.mdns {
        tasks.push(net::mdns::start(
            config,
            office,
            &credentials.certificate.ca_fingerprint,
            peer_addr.port(),
            sync.clone(),
            shutdown.subscribe(),
        )?);
    }
    Ok((peer_addr, sync, tasks, tls))
}

/// When a certificate is learned or a revocation arrives, facts already projected may count
/// differently (a signer now known, a node revoked before its fact): every document is
/// projected again, in the background, a moment after the last change.
async fn reproject_when_authority_changes(office: BackOffice, mut stop: watch::Receiver<bool>) {
    let mut changes = office.authority().changes();
    loop {
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = stop.changed() => return,
        }
        // Several certificates arrive together at a first exchange: wait for the burst.
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(300)) => {}
            _ = stop.changed() => return,
        }
        changes.mark_unchanged();
        let store = office.store.clone();
        let started = Instant::now();
        match tokio::task::spawn_blocking(move || store.reproject_all()).await {
            Ok(Ok(changed)) => tracing::info!(
                changed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "documents projected again after the node's authority changed"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "documents could not be projected again"),
            Err(e) => tracing::error!(error = %e, "documents could not be projected again"),
        }
    }
}

/// How often the node looks for what the CLI wrote into its data directory while it runs: a
/// list `neiqin node revoke` made, a certificate `neiqin node install` installed.
const DATA_DIR_RELOAD: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes, while the node runs, a newer revocation list and a renewed certificate from the data
/// directory. A renewed certificate (same node, same CA) is presented from the next handshake
/// on, signs the facts written from then on, and its roles are the node's: no restart.
async fn reload_from_data_dir(
    tls: PeerTls,
    office: BackOffice,
    data_dir: PathBuf,
    mut certificate_in_force: String,
    mut stop: watch::Receiver<bool>,
) {
    let certificate_file = data_dir.join(pki::NODE_CERT_FILE);
    loop {
        tokio::select! {
            () = tokio::time::sleep(DATA_DIR_RELOAD) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match tls.reload_revocations() {
            Ok(true) => tracing::warn!(
                number = tls.revocation_number(),
                "the admin's new revocation list is in force"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "the revocation list in the data directory is not usable")
            }
        }
        let Ok(written) = std::fs::read_to_string(&certificate_file) else {
            continue;
        };
        if written == certificate_in_force {
            continue;
        }
        match renew_in_place(&tls, &office, &data_dir) {
            Ok(certificate) => {
                tracing::warn!(
                    serial = %certificate.serial_hex,
                    roles = ?certificate.roles,
                    expires = %certificate.not_after,
                    "the renewed certificate of this node is in force"
                );
                certificate_in_force = written;
            }
            // Said once per change of the file (a half-done install is completed by the load).
            Err(e) => {
                tracing::error!(error = %e, "the certificate installed in the data directory is not used yet");
                certificate_in_force = written;
            }
        }
    }
}

/// Puts the certificate in the data directory in force in this running node.
fn renew_in_place(
    tls: &PeerTls,
    office: &BackOffice,
    data_dir: &Path,
) -> anyhow::Result<pki::NodeCertificate> {
    let credentials = pki::NodeCredentials::load(data_dir, chrono::Utc::now())?
        .ok_or_else(|| anyhow::anyhow!("no certificate in {}", data_dir.display()))?;
    if credentials.certificate.node_id != office.identity.node_id {
        anyhow::bail!(
            "the certificate names node {}, this node is {}",
            credentials.certificate.node_id,
            office.identity.node_id
        );
    }
    tls.renew(&credentials)?;
    office.authority().renew_signer(&credentials)?;
    office.set_certificate(credentials.certificate.clone());
    Ok(credentials.certificate)
}

/// This node's certificate for the peer link. A node without one (a data directory made before
/// certificates, or a join not yet approved) does not start, and is told the commands that give
/// it one. A node whose certificate expired keeps working alone (None): its people keep their
/// local work, and the log says how to renew.
fn peer_credentials(data_dir: &Path) -> anyhow::Result<Option<pki::NodeCredentials>> {
    let dir = data_dir.display();
    match pki::NodeCredentials::load(data_dir, chrono::Utc::now()) {
        Ok(Some(credentials)) => {
            let left = credentials.certificate.not_after - chrono::Utc::now();
            if left < chrono::Duration::days(RENEW_WARNING_DAYS) {
                tracing::warn!(
                    expires = %credentials.certificate.not_after,
                    "this node's certificate expires soon; renew it: `neiqin node request --data {dir}`, \
                     `neiqin node approve` on the admin node, `neiqin node install --data {dir} FILE` \
                     (the running node takes it within seconds)"
                );
            }
            Ok(Some(credentials))
        }
        Ok(None) => anyhow::bail!(
            "{dir} has no node certificate, so it cannot talk to its peers (a data directory made \
             before certificates, or a join not yet approved). On the company's first node, the one \
             that approves others: `neiqin node init-ca --data {dir} --roles office` (roles of this \
             node). On any other node: `neiqin node request --data {dir}`, then on the admin node \
             `neiqin node approve REQUEST --roles ROLES`, then `neiqin node install --data {dir} \
             CERTIFICATE`. Nothing in the store changes."
        ),
        Err(e @ pki::PkiError::Expired { .. }) => {
            tracing::error!(
                error = %e,
                "this node works alone until its certificate is renewed (then restart it)"
            );
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!(e).context(format!(
            "the certificate in {dir} is not usable; run `neiqin node show --data {dir}`"
        ))),
    }
}

/// A node warns in its log this long before its certificate expires.
pub const RENEW_WARNING_DAYS: i64 = 30;
