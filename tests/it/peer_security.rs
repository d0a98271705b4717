//! The peer endpoint refuses anyone who cannot prove cluster membership and tells them nothing,
//! survives malformed and hostile messages, and ignores nodes of another cluster.

use crate::harness::{client, three_lines};
use crate::testnet::{hex_key, TestNet};
use neiqin::net::auth::{ClusterKey, NonceCache, REQUEST_HEADER};
use neiqin::net::client::{ExchangeError, PeerClient};
use neiqin::sync::protocol::{self, Hello, PullRequest, PullResponse, PROTOCOL_VERSION};
use reqwest::StatusCode;
use std::time::Duration;

fn hello(node_id: &str) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        node_id: node_id.into(),
        name: "probe".into(),
        role: "clerk".into(),
        peer_port: 0,
    }
}

fn pull() -> PullRequest {
    PullRequest {
        from: hello("abcdef"),
        since: 0,
        limit: 100,
        wait_ms: 0,
    }
}

const ROUTES: [&str; 4] = [
    "/peer/pull",
    "/peer/fetch",
    "/peer/attachments",
    "/peer/anything",
];

#[tokio::test]
async fn callers_without_the_key_get_a_bare_401() {
    let mut net = TestNet::start(1).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    net.nodes[0].order(&customer, three_lines()).await;
    let addr = net.nodes[0].node.as_ref().unwrap().peer_addr.unwrap();
    let body = protocol::encode(&pull());
    for route in ROUTES {
        // No proof at all, a malformed one, and a well-formed one under another cluster's key.
        let other = ClusterKey::from_hex(&hex_key()).unwrap();
        let (forged, _) = other.sign_request(
            "abcdef",
            "POST",
            route,
            &body,
            chrono::Utc::now().timestamp_millis(),
        );
        for header in [None, Some("v1 garbage".to_string()), Some(forged)] {
            let mut req = client()
                .post(format!("http://{addr}{route}"))
                .body(body.clone());
            if let Some(h) = &header {
                req = req.header(REQUEST_HEADER, h);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{route} {header:?}"
            );
            assert!(resp.headers().get("x-neiqin-sig").is_none());
            let text = resp.bytes().await.unwrap();
            assert!(
                text.is_empty(),
                "{route}: a refused caller learns nothing, got {text:?}"
            );
        }
    }
    let stranger = PeerClient::new(ClusterKey::from_hex(&hex_key()).unwrap(), "abcdef".into());
    let result: Result<PullResponse, _> = stranger
        .call(
            &addr.to_string(),
            "/peer/pull",
            &pull(),
            Duration::from_secs(5),
        )
        .await;
    assert!(
        matches!(result, Err(ExchangeError::Refused)),
        "{:?}",
        result.err()
    );
    net.stop().await;
}

#[tokio::test]
async fn a_replayed_request_is_refused() {
    let net = TestNet::start(1).await;
    let node = net.nodes[0].node.as_ref().unwrap();
    let addr = node.peer_addr.unwrap();
    let key = ClusterKey::from_hex(&node.office.identity.cluster_key).unwrap();
    let body = protocol::encode(&pull());
    let (header, _) = key.sign_request(
        "abcdef",
        "POST",
        "/peer/pull",
        &body,
        chrono::Utc::now().timestamp_millis(),
    );
    let send = || {
        client()
            .post(format!("http://{addr}/peer/pull"))
            .header(REQUEST_HEADER, header.clone())
            .body(body.clone())
            .send()
    };
    assert_eq!(send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // The key's own check agrees: the same nonce twice is a replay.
    let nonces = NonceCache::default();
    let now = chrono::Utc::now().timestamp_millis();
    let (h, _) = key.sign_request("abcdef", "POST", "/p", b"", now);
    assert!(key
        .verify_request(Some(&h), "POST", "/p", b"", now, &nonces)
        .is_ok());
    assert!(key
        .verify_request(Some(&h), "POST", "/p", b"", now, &nonces)
        .is_err());
    net.stop().await;
}

#[tokio::test]
async fn malformed_and_hostile_messages_end_the_exchange_and_the_node_keeps_serving() {
    let mut net = TestNet::start(1).await;
    let customer = net.nodes[0].customer("杭州居然之家店").await;
    net.nodes[0].order(&customer, three_lines()).await;
    let (addr, key) = {
        let node = net.nodes[0].node.as_ref().unwrap();
        (
            node.peer_addr.unwrap(),
            ClusterKey::from_hex(&node.office.identity.cluster_key).unwrap(),
        )
    };
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
            let (header, _) = key.sign_request(
                "abcdef",
                "POST",
                route,
                body,
                chrono::Utc::now().timestamp_millis(),
            );
            let resp = client()
                .post(format!("http://{addr}{route}"))
                .header(REQUEST_HEADER, header)
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
    let (header, _) = key.sign_request(
        "abcdef",
        "POST",
        "/peer/fetch",
        &big,
        chrono::Utc::now().timestamp_millis(),
    );
    let resp = client()
        .post(format!("http://{addr}/peer/fetch"))
        .header(REQUEST_HEADER, header)
        .body(big)
        .send()
        .await;
    assert!(resp.map(|r| r.status() != StatusCode::OK).unwrap_or(true));

    // Still serving: a proper pull gets both documents, and the local API answers.
    let member = PeerClient::new(key, "abcdef".into());
    let resp: PullResponse = member
        .call(
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
    // A stranger with its own key points at node 0 and keeps trying.
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
            .contains("refused"),
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
    // 64 connections at once, each declaring 31 MiB and sending it without any proof.
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
    // Half a request line, then nothing.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled.write_all(b"POST /peer/pull HTT").await.unwrap();
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
