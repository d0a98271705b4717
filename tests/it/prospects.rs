//! Prospects: recorded, followed up (with the next date), converted into a customer archive once.

use crate::harness::TestNode;
use neiqin::domain::role::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_prospect_is_followed_up_and_converted_once() {
    let mut node = TestNode::start().await;
    let clerk = node.token(Role::Clerk).await;
    let (status, p) = node
        .post("/api/prospects", &clerk, json!({"name": "合肥红星美凯龙政务区店", "contact": "周敏", "phone": "13955550000", "city": "合肥", "region": "East", "source": "广州家具展"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    let (status, p) = node
        .post(&format!("/api/prospects/{id}/follow-ups"), &clerk, json!({"method": "phone", "note": "已寄画册和价格表", "materials": ["画册", "价格表"], "next_date": "2026-12-05"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["next_follow_up"], "2026-12-05");
    assert_eq!(p["follow_ups"][0]["materials"], json!(["画册", "价格表"]));
    let (status, _) = node
        .post(
            &format!("/api/prospects/{id}/follow-ups"),
            &clerk,
            json!({"method": "pigeon"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let warehouse = node.token(Role::Warehouse).await;
    let (status, _) = node
        .post(
            &format!("/api/prospects/{id}/convert"),
            &warehouse,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, c) = node
        .post(
            &format!("/api/prospects/{id}/convert"),
            &clerk,
            json!({"code": "HF-001", "kind": "store", "channel": "专卖店"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["name"], "合肥红星美凯龙政务区店");
    assert_eq!(c["code"], "HF-001");
    assert_eq!(c["collections"]["contacts"][0]["mobile"], "13955550000");
    let (_, p) = node.get(&format!("/api/prospects/{id}"), &clerk).await;
    assert_eq!(p["converted_to"], c["id"]);
    let (status, _) = node
        .post(&format!("/api/prospects/{id}/convert"), &clerk, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "converted once");
    node.stop().await;
}

/// The follow-ups due, counted on Wednesday 2026-12-02: overdue before it, today, and this week
/// up to Sunday; a converted prospect is never due.
#[tokio::test]
async fn follow_ups_due_are_listed_overdue_today_and_this_week() {
    let mut node = TestNode::start().await;
    let clerk = node.token(Role::Clerk).await;
    let mut ids = std::collections::BTreeMap::new();
    for (name, next) in [
        ("逾期店", "2026-11-30"),
        ("今天店", "2026-12-02"),
        ("周日店", "2026-12-06"),
        ("下周店", "2026-12-08"),
        ("已转客户店", "2026-12-01"),
    ] {
        let (status, p) = node
            .post("/api/prospects", &clerk, json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        let id = p["id"].as_str().unwrap().to_string();
        let (status, p) = node
            .post(
                &format!("/api/prospects/{id}/follow-ups"),
                &clerk,
                json!({"method": "phone", "next_date": next}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        ids.insert(name, id);
    }
    let (status, _) = node
        .post(
            &format!("/api/prospects/{}/convert", ids["已转客户店"]),
            &clerk,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (due, expected) in [
        ("overdue", vec!["逾期店"]),
        ("today", vec!["今天店"]),
        ("week", vec!["今天店", "周日店"]),
    ] {
        let (status, page) = node
            .get(
                &format!("/api/prospects?due={due}&today=2026-12-02"),
                &clerk,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(names(&page), expected, "due={due}");
    }
    // Every prospect, newest first, two to a page.
    let (_, first) = node.get("/api/prospects?limit=2", &clerk).await;
    assert_eq!(names(&first), vec!["已转客户店", "下周店"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = node
        .get(&format!("/api/prospects?limit=2&cursor={cursor}"), &clerk)
        .await;
    assert_eq!(names(&second), vec!["周日店", "今天店"]);
    let (status, _) = node.get("/api/prospects?due=someday", &clerk).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    node.stop().await;
}
