//! The peer endpoint speaks TLS 1.3 only and refuses, during the handshake, anyone without a
//! valid certificate of the cluster CA (none, another company's, expired): they learn nothing.
//! A member cannot speak for another node, malformed and hostile messages end the exchange while
//! the node keeps serving, and nothing crosses the network in clear.

use crate::harness::{client, three_lines};
use crate::testnet::TestNet;
use chrono::{Duration as Days, Utc};
use neiqin::domain::role::Role;
use neiqin::net::client::PeerClient;
use neiqin::net::tls::PeerTls;
use neiqin::pki::{ClusterCa, JoinRequest, NodeCertificate, NodeCredentials};
use neiqin::sync::protocol::{self, Hello, PullRequest, PullResponse, PROTOCOL_VERSION};
use reqwest::StatusCode;
use std::time::Duration;

const NODE: &str = "abcdef0123456789abcdef0123456789";

fn hello(node_id: &str) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        node_id: node_id.into(),
        name: "probe".into(),
        role: "clerk".into(),
        peer_port: 0,
        revocations: 0,
        revocation_list: None,
        certificates: 0,
        certificate_list: Vec::new(),
    }
}

fn pull() -> PullRequest {
    PullRequest {
        from: hello(NODE),
        since: 0,
        limit: 100,
        wait_ms: 0,
    }
}

/// Credentials for node `NODE`, signed by `ca`, valid over `[from, to]` from now (in days).
fn credentials(ca: &ClusterCa, from: i64, to: i64) -> NodeCredentials {
    let (key_pem, request_pem) = JoinRequest::create(NODE).expect("request");
    let request = JoinRequest::parse(&request_pem).expect("parse");
    let now = Utc::now();
    let cert_pem = ca
        .issue(
            &request,
            &[Role::Clerk],
            now + Days::days(from),
            now + Days::days(to),
        )
        .expect("issue");
    let certificate = NodeCertificate::verify(
        &cert_pem,
        ca.cert_pem(),
        now + Days::days(from) + Days::minutes(1),
    )
    .expect("valid in its own window");
    NodeCredentials {
        key_pem,
        cert_pem,
        ca_pem: ca.cert_pem().to_string(),
        certificate,
    }
}

fn peer_client(credentials: &NodeCredentials) -> PeerClient {
    PeerClient::new(PeerTls::new(credentials).expect("tls"))
}

/// An HTTPS client presenting `credentials`, to send raw bodies a `PeerClient` never would.
fn raw_client(credentials: &NodeCredentials) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .use_preconfigured_tls(PeerTls::new(credentials).expect("tls").client_config())
        .build()
        .expect("client")
}

#[tokio::test]
async fn strangers_are_refused_in_the_handshake_and_learn_nothing() {
    let mut net = TestNet::start(1).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    net.nodes[0].order(&customer, three_lines()).await;
    let addr = net.nodes[0].node.as_ref().unwrap().peer_addr.unwrap();
    let body = protocol::encode(&pull());

    // Plain HTTP: no answer at all, not even a status.
    let plain = client()
        .post(format!("http://{addr}/peer/pull"))
        .body(body.clone())
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP got {:?}",
        plain.map(|r| r.status())
    );

    // TLS without a client certificate.
    let anonymous = reqwest::Client::builder()
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .post(format!("https://{addr}/peer/pull"))
        .body(body.clone())
        .send()
        .await;
    assert!(anonymous.is_err(), "no certificate got an answer");

    // Another company's certificate, and an expired one of ours.
    let other_ca = ClusterCa::generate("别的公司").unwrap();
    let expired = credentials(&net.ca, -40, -5);
    for (who, creds) in [
        ("another CA", credentials(&other_ca, 0, 30)),
        ("expired", expired),
    ] {
        let result: Result<PullResponse, _> = peer_client(&creds)
            .call(
                &addr.to_string(),
                "/peer/pull",
                &pull(),
                Duration::from_secs(5),
            )
            .await;
        let error = result.err().unwrap_or_else(|| panic!("{who}: answered"));
        assert!(
            error.to_string().to_lowercase().contains("certificate")
                || error.to_string().contains("alert"),
            "{who}: {error}"
        );
    }

    // A member is answered, over TLS 1.3.
    let member = credentials(&net.ca, 0, 30);
    let resp: PullResponse = peer_client(&member)
        .pull(
            &addr.to_string(),
            "/peer/pull",
            &pull(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(resp.entries.len(), 2);
    net.stop().await;
}

#[tokio::test]
async fn a_member_cannot_speak_for_another_node() {
    let net = TestNet::start(1).await;
    let addr = net.nodes[0].node.as_ref().unwrap().peer_addr.unwrap();
    let member = credentials(&net.ca, 0, 30);
    let other_node = PullRequest {
        from: hello("0123456789abcdef0123456789abcdef"),
        ..pull()
    };
    let resp = raw_client(&member)
        .post(format!("https://{addr}/peer/pull"))
        .body(protocol::encode(&other_node))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let text = resp.text().await.unwrap();
    assert!(text.contains("certificate"), "{text}");
    net.stop().await;
}

#[tokio::test]
async fn malformed_and_hostile_messages_end_the_exchange_and_the_node_keeps_serving() {
    let mut net = TestNet::start(1).await;
    let customer = net.nodes[0].customer("杭州居然之家店").await;
    net.nodes[0].order(&customer, three_lines()).await;
    let addr = net.nodes[0].node.as_ref().unwrap().peer_addr.unwrap();
    let member = credentials(&net.ca, 0, 30);
    let raw = raw_client(&member);
    let valid = protocol::encode(&pull());
    let mut bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0xff; 64],
        valid[..valid.len() / 2].to_vec(),
        b"{\"json\": true}".to_vec(),
        // A hostile fetch: a document id that would reach into another key space.
        protocol::encode(&protocol::FetchRequest {
            docs: vec![protocol::DocHave {
                doc: "../u/x".into(),
                heads: vec![],
            }],
        }),
        // Absurd limits.
        protocol::encode(&PullRequest {
            limit: u32::MAX,
            ..pull()
        }),
        protocol::encode(&PullRequest {
            from: Hello {
                version: 99,
                ..hello("abcdef")
            },
            ..pull()
        }),
    ];
    let mut seed = 0x2545F4914F6CDD1Du64;
    for len in [1usize, 7, 33, 200, 4096] {
        bodies.push(
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect(),
        );
    }
    for route in ["/peer/pull", "/peer/fetch", "/peer/attachments"] {
        for body in &bodies {
            let resp = raw
                .post(format!("https://{addr}{route}"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            // The pull with a foreign route body may decode as something valid only by chance;
            // anything but a server error is acceptable, and it must not be a 5xx.
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::OK,
                "{route}: {status}"
            );
        }
    }
    // Oversized body: refused before it is read whole.
    let big = vec![0u8; 40 * 1024 * 1024];
    let resp = raw
        .post(format!("https://{addr}/peer/fetch"))
        .body(big)
        .send()
        .await;
    assert!(resp.map(|r| r.status() != StatusCode::OK).unwrap_or(true));

    // Still serving: a proper pull gets both documents, and the local API answers.
    let resp: PullResponse = peer_client(&member)
        .pull(
            &addr.to_string(),
            "/peer/pull",
            &pull(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(resp.entries.len(), 2);
    let (status, _) = net.nodes[0].get("/api/health", "").await;
    assert_eq!(status, StatusCode::OK);
    net.stop().await;
}

#[tokio::test]
async fn a_node_of_another_cluster_is_ignored() {
    let mut net = TestNet::start(2).await;
    // A stranger with its own CA points at node 0 and keeps trying.
    let tmp = tempfile::tempdir().unwrap();
    let mut config = neiqin::config::Config::local(tmp.path().join("data"));
    config.peers = vec![net.nodes[0]
        .node
        .as_ref()
        .unwrap()
        .peer_addr
        .unwrap()
        .to_string()];
    let mut stranger = crate::harness::TestNode::start_with(config, Some(tmp)).await;
    let theirs = stranger.customer("不该同步的客户").await;
    let ours = net.nodes[1].customer("应该同步的客户").await;
    net.settle(Duration::from_secs(30)).await;
    let store0 = &net.nodes[0].node.as_ref().unwrap().office.store;
    assert!(store0.doc_meta(&ours).unwrap().is_some());
    assert!(
        store0.doc_meta(&theirs).unwrap().is_none(),
        "a stranger's document never arrives"
    );
    let stranger_store = &stranger.node.as_ref().unwrap().office.store;
    assert!(
        stranger_store.doc_meta(&ours).unwrap().is_none(),
        "and the stranger learns nothing"
    );
    let (_, status) = stranger.get("/api/status", &stranger.admin.clone()).await;
    let peer = &status["peers"][0];
    assert_eq!(
        peer["node_id"], "",
        "the stranger does not even learn node 0's id"
    );
    assert!(
        peer["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("certificate"),
        "{status}"
    );
    stranger.stop().await;
    net.stop().await;
}

/// This process's resident memory, in MB (the nodes under test run in it).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::test]
async fn strangers_sending_large_bodies_are_refused_before_any_body_is_buffered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut net = TestNet::start(2).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    net.settle(Duration::from_secs(30)).await;
    let addr = net.nodes[0].node.as_ref().unwrap().peer_addr.unwrap();
    let idle = rss_mb();
    // 64 connections at once, each declaring 31 MiB and sending it without a TLS handshake.
    let attack: Vec<_> = (0..64)
        .map(|_| {
            tokio::spawn(async move {
                let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                    return 0usize;
                };
                let head = format!(
                    "POST /peer/fetch HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
                    31 * 1024 * 1024
                );
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return 0;
                }
                let chunk = vec![0x5a; 1024 * 1024];
                let mut sent = 0;
                for _ in 0..31 {
                    match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&chunk))
                        .await
                    {
                        Ok(Ok(())) => sent += chunk.len(),
                        _ => break,
                    }
                }
                // Then hold the connection a while.
                let mut buf = [0u8; 256];
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
                sent
            })
        })
        .collect();
    // The local API answers during the attack.
    let (status, _) = net.nodes[0].get("/api/health", "").await;
    assert_eq!(status, StatusCode::OK);
    let mut accepted = 0;
    for task in attack {
        accepted += task.await.unwrap();
    }
    let after = rss_mb();
    assert!(
        after - idle < 50.0,
        "RSS grew from {idle:.0} MB to {after:.0} MB under the attack ({} MB sent)",
        accepted / (1024 * 1024)
    );
    // And the members still sync.
    let clerk = net.nodes[1].token(neiqin::domain::role::Role::Clerk).await;
    let (status, _) = net.nodes[1]
        .post(
            "/api/orders",
            &clerk,
            crate::harness::order_body(&customer, three_lines()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    net.settle(Duration::from_secs(30)).await;
    net.stop().await;
}

#[tokio::test]
async fn a_connection_that_stalls_in_its_headers_is_closed_and_one_address_holds_few() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let net = TestNet::start(1).await;
    let addr = net.nodes[0].node.as_ref().unwrap().peer_addr.unwrap();
    // Half a TLS record header, then nothing.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    // Many idle connections from one address: those over the cap are closed at once.
    let cap = neiqin::net::server::MAX_CONNECTIONS_PER_ADDRESS;
    let mut idle = Vec::new();
    for _ in 0..cap + 10 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let mut closed_at_once = 0;
    for stream in &mut idle {
        let mut buf = [0u8; 16];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await
        {
            closed_at_once += 1;
        }
    }
    assert!(
        closed_at_once >= 10,
        "only {closed_at_once} of {} closed at once",
        cap + 10
    );
    drop(idle);
    let mut buf = [0u8; 256];
    let waited = tokio::time::timeout(
        neiqin::net::server::HEADER_READ_TIMEOUT + Duration::from_secs(5),
        stalled.read(&mut buf),
    )
    .await;
    assert!(
        matches!(waited, Ok(Ok(_)) | Ok(Err(_))),
        "the stalled connection was never closed"
    );
    net.stop().await;
}

#[tokio::test]
async fn nothing_crosses_the_network_in_clear() {
    let mut net = TestNet::start(2).await;
    net.wire.record(true);
    let customer = net.nodes[0].customer("上海真北家居有限公司").await;
    net.nodes[0].order(&customer, three_lines()).await;
    net.settle(Duration::from_secs(30)).await;
    net.wire.record(false);
    let wire = net.wire.bytes();
    assert!(wire.len() > 4096, "only {} bytes crossed", wire.len());
    // The documents themselves carry the name in clear, so a link without encryption would
    // show it: the search below can find what it looks for.
    let stored = net.nodes[0]
        .node
        .as_ref()
        .unwrap()
        .office
        .store
        .raw_document(&customer)
        .unwrap()
        .unwrap();
    let name = "上海真北家居有限公司".as_bytes();
    assert!(stored.windows(name.len()).any(|w| w == name));
    // What an eavesdropper on the LAN would look for: names, phones, amounts.
    for secret in [
        "上海真北家居有限公司",
        "真北路1108号",
        "张伟",
        "13812345678",
        "91310000MA1FL12345",
        "4580.00",
        "SF-2108",
    ] {
        assert!(
            !wire.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} crossed the network in clear"
        );
    }
    // Yet it arrived.
    let (status, body) = net.nodes[1]
        .get(&format!("/api/customers/{customer}"), &net.nodes[1].admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.to_string().contains("13812345678"));
    net.stop().await;
}
