//! mDNS discovery (mdns-sd): announce this node as `_neiqin._tcp.local.` with only its node id
//! and the cluster CA's fingerprint (the port is the service's own), and add every peer of the
//! same CA that announces itself. An announcement is only a hint of where to connect: who a peer
//! is comes from its certificate in the TLS handshake. The only file that touches mdns-sd.
//!
//! Interfaces: those named in config, or else every IPv4 interface except loopback and the
//! virtual ones (docker, veth, bridges), where a LAN peer never is.

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::syncer::SyncManager;
use crate::config::Config;
use crate::service::BackOffice;
use crate::sync::peers::FoundBy;

pub const SERVICE_TYPE: &str = "_neiqin._tcp.local.";

/// Interface name prefixes never used unless named in config.
const VIRTUAL_PREFIXES: &[&str] = &["docker", "veth", "br-", "virbr", "lo"];

fn choose_interfaces(daemon: &ServiceDaemon, wanted: &[String]) -> anyhow::Result<()> {
    daemon.disable_interface(IfKind::IPv6)?;
    daemon.disable_interface(IfKind::LoopbackV4)?;
    daemon.disable_interface(IfKind::LoopbackV6)?;
    if !wanted.is_empty() {
        daemon.disable_interface(IfKind::All)?;
        for name in wanted {
            daemon.enable_interface(IfKind::Name(name.clone()))?;
        }
        return Ok(());
    }
    for iface in if_addrs::get_if_addrs()? {
        if VIRTUAL_PREFIXES.iter().any(|p| iface.name.starts_with(p)) {
            daemon.disable_interface(IfKind::Name(iface.name.clone()))?;
        }
    }
    Ok(())
}

/// Starts announcing and browsing; the returned task ends (and unregisters) on shutdown.
pub fn start(
    config: &Config,
    office: &BackOffice,
    ca_fingerprint: &str,
    peer_port: u16,
    sync: SyncManager,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let identity = &office.identity;
    let daemon = ServiceDaemon::new()?;
    choose_interfaces(&daemon, &config.mdns_interfaces)?;
    let fingerprint = ca_fingerprint.to_string();
    let properties = [
        ("node", identity.node_id.as_str()),
        ("fp", fingerprint.as_str()),
    ];
    let host = format!("{}.local.", identity.node_id);
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        &identity.node_id,
        &host,
        "",
        peer_port,
        &properties[..],
    )?
    .enable_addr_auto();
    let my_fullname = info.get_fullname().to_string();
    daemon.register(info)?;
    let events = daemon.browse(SERVICE_TYPE)?;

    // address -> instance name, so a failed exchange can ask mdns-sd to verify that instance.
    let instances: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    {
        let daemon = daemon.clone();
        let instances = instances.clone();
        *sync.on_failure.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Arc::new(move |address: &str| {
                let fullname = instances
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(address)
                    .cloned();
                if let Some(fullname) = fullname {
                    let _ = daemon.verify(fullname, Duration::from_secs(2));
                }
            }));
    }
    let my_node = identity.node_id.clone();
    Ok(tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                e = events.recv_async() => match e { Ok(e) => e, Err(_) => break },
                _ = shutdown.changed() => break,
            };
            match event {
                ServiceEvent::ServiceResolved(service) => {
                    if service.fullname == my_fullname {
                        continue;
                    }
                    let node = service
                        .get_property_val_str("node")
                        .unwrap_or_default()
                        .to_string();
                    let fp = service.get_property_val_str("fp").unwrap_or_default();
                    if node == my_node {
                        continue;
                    }
                    if fp != fingerprint {
                        tracing::debug!(%node, "ignoring a node of another cluster");
                        continue;
                    }
                    // A peer resolves once per address and interface; every event names the
                    // same instance, and adding an address twice is a no-op.
                    for ip in service.get_addresses_v4() {
                        let address = format!("{ip}:{}", service.port);
                        instances
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(address.clone(), service.fullname.clone());
                        tracing::info!(%node, %address, "peer found by mDNS");
                        sync.add(address, FoundBy::Mdns);
                    }
                }
                ServiceEvent::ServiceRemoved(_, fullname) => {
                    // Keep syncing with it: a peer that went quiet on mDNS (a cable pulled at
                    // the switch) is retried every few seconds, so it is back as soon as the
                    // link is; the sync loop forgets it only after failing for a long while.
                    tracing::info!(%fullname, "peer gone from mDNS; retrying until it is back");
                }
                _ => {}
            }
        }
        let _ = daemon.unregister(&my_fullname);
        let _ = daemon.shutdown();
    }))
}
