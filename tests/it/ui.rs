//! The workbench over real HTTP, as a browser would use it without running script: signing in
//! (right and wrong password), the session cookie, CSRF refusals, a disabled user's token and
//! session stopped at once, the security headers, the order list and the print page's capitals.

use reqwest::header::{HeaderMap, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{three_lines, TestNode};
use neiqin::domain::role::Role;

/// A browser without script: keeps the session cookie, follows nothing by itself.
pub struct PageClient {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

pub struct PageAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl PageAnswer {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("end of token") + start;
        self.body[start..end].to_string()
    }

    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl PageClient {
    pub fn new(node: &TestNode) -> PageClient {
        PageClient {
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: node.base.clone(),
            cookie: None,
        }
    }

    async fn answer(&mut self, request: reqwest::RequestBuilder) -> PageAnswer {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.expect("the node answers");
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(set) = headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap_or("").to_string();
            self.cookie = if pair.ends_with('=') {
                None
            } else {
                Some(pair)
            };
        }
        let body = response.text().await.expect("body");
        PageAnswer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> PageAnswer {
        let request = self.client.get(format!("{}{path}", self.base));
        self.answer(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> PageAnswer {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.answer(request).await
    }

    pub async fn post_with_origin(
        &mut self,
        path: &str,
        origin: &str,
        form: &[(&str, &str)],
    ) -> PageAnswer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("origin", origin)
            .form(form);
        self.answer(request).await
    }

    /// Posts a form as a browser does when it carries files: multipart, `files` as
    /// (field, file name, bytes).
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> PageAnswer {
        let boundary = "----neiqin-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        for (name, file, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.answer(request).await
    }

    /// A download's content type and bytes, as the signed-in browser gets it.
    pub async fn get_bytes(&mut self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.expect("the node answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = response.bytes().await.expect("body").to_vec();
        (status, content_type, bytes)
    }

    pub async fn sign_in(&mut self, name: &str, password: &str) -> PageAnswer {
        self.post("/ui/login", &[("name", name), ("password", password)])
            .await
    }
}

/// Adds a user with a password through the API; returns their token.
/// The password of the users `signed_in` makes.
pub const PASSWORD: &str = "工作台测试密码-2026";

/// A browser without script signed in as a new user `name` of `role`.
pub async fn signed_in(node: &TestNode, name: &str, role: &str) -> PageClient {
    user_with_password(node, name, role, PASSWORD).await;
    let mut page = PageClient::new(node);
    let answer = page.sign_in(name, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    page
}

/// The count a home page shows for the queue `label` (the count comes before its label).
pub fn home_count(page: &PageAnswer, label: &str) -> String {
    let at = page
        .body
        .find(&format!("</span>{label}</a>"))
        .unwrap_or_else(|| panic!("no {label} on {}", page.body));
    let before = &page.body[..at];
    let start = before.rfind("class=\"count\">").expect("a count") + "class=\"count\">".len();
    before[start..].to_string()
}

pub async fn user_with_password(node: &TestNode, name: &str, role: &str, password: &str) -> String {
    let (status, body) = node
        .post(
            "/api/users",
            &node.admin,
            json!({"name": name, "role": role, "password": password}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("password").is_none(), "the password is not echoed");
    body["token"].as_str().expect("token").to_string()
}

fn csp(answer: &PageAnswer) -> &str {
    answer
        .headers
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn signing_in_with_the_right_password_opens_the_workbench_and_a_wrong_one_does_not() {
    let node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let mut page = PageClient::new(&node);

    let home = page.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/ui/login");

    let form = page.get("/ui/login").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("<html lang=\"zh-CN\">"));
    assert!(form.body.contains("登录"));

    let wrong = page.sign_in("李娜", "错误的密码-2026").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("用户名或密码错误"), "{}", wrong.body);
    assert!(
        wrong.body.contains("value=\"李娜\""),
        "the typed name is kept"
    );
    assert!(page.cookie.is_none(), "no session for a wrong password");
    let unknown = page.sign_in("没有这个人", "正确的密码-2026").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains("用户名或密码错误"));

    let right = page.sign_in("李娜", "正确的密码-2026").await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(right.location(), "/");
    let cookie = right
        .headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    assert!(cookie.starts_with("nq_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let id = cookie
        .trim_start_matches("nq_session=")
        .split(';')
        .next()
        .unwrap_or("");
    assert_eq!(id.len(), 64, "256 random bits in hex");

    let home = page.get("/").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.body.contains("工作台"));
    assert!(
        home.body.contains("李娜（内勤）"),
        "user and role in Chinese"
    );
    assert!(home.body.contains("待核单"), "the clerk's queues");
    assert!(
        home.body.contains("单机模式"),
        "a node without peers says so"
    );

    // Signing out ends the session at once.
    let csrf = home.csrf();
    let out = page.post("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/ui/login");
    page.cookie = Some(format!("nq_session={id}"));
    assert_eq!(page.get("/").await.status, StatusCode::SEE_OTHER);
    node.stop().await;
}

#[tokio::test]
async fn a_form_without_its_sessions_csrf_token_or_from_another_origin_is_refused() {
    let node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let mut page = PageClient::new(&node);
    page.sign_in("李娜", "正确的密码-2026").await;
    let form = page.get("/ui/password").await;
    let csrf = form.csrf();

    let change = [
        ("current", "正确的密码-2026"),
        ("new", "新的密码-2027"),
        ("confirm", "新的密码-2027"),
    ];
    let missing = page.post("/ui/password", &change).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("CSRF"), "{}", missing.body);
    assert!(missing.body.contains("安全校验失败"));

    let mut forged = change.to_vec();
    forged.push(("csrf", "0000"));
    assert_eq!(
        page.post("/ui/password", &forged).await.status,
        StatusCode::FORBIDDEN
    );

    let mut with_token = change.to_vec();
    with_token.push(("csrf", &csrf));
    let elsewhere = page
        .post_with_origin("/ui/password", "http://evil.example", &with_token)
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);

    // None of the refused forms changed the password; the real one does.
    let done = page.post("/ui/password", &with_token).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("密码已修改"), "{}", done.body);
    let mut again = PageClient::new(&node);
    assert_eq!(
        again.sign_in("李娜", "正确的密码-2026").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        again.sign_in("李娜", "新的密码-2027").await.status,
        StatusCode::SEE_OTHER
    );
    node.stop().await;
}

#[tokio::test]
async fn a_disabled_users_token_and_session_stop_at_once_and_work_again_when_enabled() {
    let node = TestNode::start().await;
    let token = user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    user_with_password(&node, "王主任", "admin", "管理员的密码-2026").await;
    let mut clerk = PageClient::new(&node);
    clerk.sign_in("李娜", "正确的密码-2026").await;
    assert_eq!(clerk.get("/").await.status, StatusCode::OK);
    assert_eq!(node.get("/api/status", &token).await.0, StatusCode::OK);

    // Not the admin: the users page and its forms are refused.
    let csrf = clerk.get("/").await.csrf();
    assert_eq!(clerk.get("/ui/users").await.status, StatusCode::FORBIDDEN);
    let refused = clerk
        .post(
            "/ui/users/change",
            &[("csrf", &csrf), ("name", "王主任"), ("action", "disable")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut admin = PageClient::new(&node);
    admin.sign_in("王主任", "管理员的密码-2026").await;
    let users = admin.get("/ui/users").await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.body);
    assert!(users.body.contains("用户管理"));
    assert!(users.body.contains("李娜"));
    let csrf = users.csrf();
    let disabled = admin
        .post(
            "/ui/users/change",
            &[("csrf", &csrf), ("name", "李娜"), ("action", "disable")],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert!(disabled.body.contains("已停用"), "{}", disabled.body);

    assert_eq!(
        node.get("/api/status", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let home = clerk.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/ui/login");
    let mut fresh = PageClient::new(&node);
    assert_eq!(
        fresh.sign_in("李娜", "正确的密码-2026").await.status,
        StatusCode::UNAUTHORIZED
    );

    let enabled = admin
        .post(
            "/ui/users/change",
            &[("csrf", &csrf), ("name", "李娜"), ("action", "enable")],
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK);
    assert_eq!(node.get("/api/status", &token).await.0, StatusCode::OK);
    assert_eq!(
        fresh.sign_in("李娜", "正确的密码-2026").await.status,
        StatusCode::SEE_OTHER
    );
    node.stop().await;
}

#[tokio::test]
async fn the_admin_adds_people_resets_passwords_and_changes_roles_on_the_users_page() {
    let node = TestNode::start().await;
    user_with_password(&node, "王主任", "admin", "管理员的密码-2026").await;
    let mut admin = PageClient::new(&node);
    admin.sign_in("王主任", "管理员的密码-2026").await;
    let csrf = admin.get("/ui/users").await.csrf();

    let added = admin
        .post(
            "/ui/users",
            &[
                ("csrf", &csrf),
                ("name", "赵仓管"),
                ("role", "warehouse"),
                ("password", "仓库的密码-2026"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(
        added.body.contains("已添加用户 赵仓管（仓库）"),
        "{}",
        added.body
    );
    assert!(added.body.contains("nq_"), "the new token is shown once");
    let twice = admin
        .post(
            "/ui/users",
            &[
                ("csrf", &csrf),
                ("name", "赵仓管"),
                ("role", "clerk"),
                ("password", "仓库的密码-2026"),
            ],
        )
        .await;
    assert!(
        twice.body.contains("这个用户名已经有人用了"),
        "{}",
        twice.body
    );
    let short = admin
        .post(
            "/ui/users",
            &[
                ("csrf", &csrf),
                ("name", "钱会计"),
                ("role", "finance"),
                ("password", "短"),
            ],
        )
        .await;
    assert!(
        short.body.contains("密码至少要有 8 个字符"),
        "{}",
        short.body
    );

    let reset = admin
        .post(
            "/ui/users/change",
            &[
                ("csrf", &csrf),
                ("name", "赵仓管"),
                ("action", "password"),
                ("password", "重设后的密码-1"),
            ],
        )
        .await;
    assert!(
        reset.body.contains("已重设 赵仓管 的密码"),
        "{}",
        reset.body
    );
    let role = admin
        .post(
            "/ui/users/change",
            &[
                ("csrf", &csrf),
                ("name", "赵仓管"),
                ("action", "role"),
                ("role", "finance"),
            ],
        )
        .await;
    assert!(role.body.contains("角色已改为财务"), "{}", role.body);

    let mut person = PageClient::new(&node);
    assert_eq!(
        person.sign_in("赵仓管", "仓库的密码-2026").await.status,
        StatusCode::UNAUTHORIZED
    );
    person.sign_in("赵仓管", "重设后的密码-1").await;
    let home = person.get("/").await;
    assert!(home.body.contains("赵仓管（财务）"), "{}", home.body);

    // The API refuses a name taken and a short password too.
    let (status, _) = node
        .post(
            "/api/users",
            &node.admin,
            json!({"name": "赵仓管", "role": "clerk"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = node
        .post(
            "/api/users",
            &node.admin,
            json!({"name": "孙", "role": "clerk", "password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    node.stop().await;
}

#[tokio::test]
async fn every_page_and_asset_sends_the_self_only_policy_and_assets_are_cached_long() {
    let mut node = TestNode::start().await;
    user_with_password(&node, "王主任", "admin", "管理员的密码-2026").await;
    let customer = node.customer("上海真北家居有限公司").await;
    let order = node.order(&customer, three_lines()).await;
    let id = order["id"].as_str().expect("id");
    let mut page = PageClient::new(&node);
    let login = page.get("/ui/login").await;
    assert!(
        csp(&login).starts_with("default-src 'self'"),
        "{}",
        csp(&login)
    );
    page.sign_in("王主任", "管理员的密码-2026").await;
    let home = page.get("/").await;
    for path in [
        "/".to_string(),
        "/ui/orders".into(),
        "/ui/users".into(),
        "/ui/password".into(),
        "/ui/anomalies".into(),
        "/ui/orders/new".into(),
        format!("/ui/orders/{id}/print?form=a4"),
        "/ui/orders/no-such-order/print".into(),
    ] {
        let answer = page.get(&path).await;
        assert!(
            csp(&answer).starts_with("default-src 'self'"),
            "{path}: {:?}",
            answer.headers
        );
        assert!(
            !answer.body.contains("http://"),
            "{path} names no other origin"
        );
        assert!(
            !answer.body.contains("https://"),
            "{path} names no other origin"
        );
        assert!(
            !answer.body.contains("<script>"),
            "{path} has no inline script"
        );
        assert!(
            !answer.body.contains("style=\""),
            "{path} has no inline style"
        );
    }
    let css = home
        .body
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.ends_with(".css")))
        .expect("a stylesheet")
        .to_string();
    let asset = page.get(&css).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(asset.body.contains("@page"));
    let cache = asset.headers["cache-control"].to_str().expect("ascii");
    assert!(cache.contains("max-age=31536000"), "{cache}");
    assert!(csp(&asset).starts_with("default-src 'self'"));
    assert_eq!(
        page.get("/ui/assets/other.css").await.status,
        StatusCode::NOT_FOUND
    );
    node.stop().await;
}

#[tokio::test]
async fn the_order_list_filters_by_status_number_customer_and_date_in_chinese() {
    let mut node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let customer = node.customer("上海真北家居有限公司").await;
    let order = node.order(&customer, three_lines()).await;
    let number = order["number"].as_str().expect("number").to_string();
    let mut page = PageClient::new(&node);
    page.sign_in("李娜", "正确的密码-2026").await;

    let all = page.get("/ui/orders").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    for tab in ["全部", "待核单", "待审核", "已发货", "已取消", "已归档"] {
        assert!(all.body.contains(tab), "tab {tab}");
    }
    for shortcut in ["今天", "本周", "本月", "上月"] {
        assert!(all.body.contains(shortcut), "shortcut {shortcut}");
    }
    assert!(all.body.contains(&number));
    assert!(
        all.body
            .contains("待核单 <span class=\"tab-count\">1</span>"),
        "tabs count their orders"
    );
    assert!(all
        .body
        .contains("已发货 <span class=\"tab-count\">0</span>"));
    assert!(
        all.body.contains("上海真北家居有限公司"),
        "customer by name"
    );
    assert!(all.body.contains("¥9,828.49"), "money as ¥1,234.56");
    let taken = page.get("/ui/orders?status=taken").await;
    assert!(taken.body.contains(&number));
    let shipped = page.get("/ui/orders?status=shipped").await;
    assert!(!shipped.body.contains(&number));
    assert!(shipped.body.contains("没有符合条件的订单"));

    let tail = &number[number.len() - 3..];
    assert!(page
        .get(&format!("/ui/orders?q={tail}"))
        .await
        .body
        .contains(&number));
    assert!(!page
        .get("/ui/orders?q=XYZ-999")
        .await
        .body
        .contains(&number));
    let by_customer = page.get("/ui/orders?customer_q=%E7%9C%9F%E5%8C%97").await;
    assert!(
        by_customer.body.contains(&number),
        "真北 finds the customer"
    );
    let nobody = page.get("/ui/orders?customer_q=nobody").await;
    assert!(nobody.body.contains("没有找到客户"));
    assert!(!nobody.body.contains(&number));
    let today = neiqin::ui::format::business_today(chrono::Utc::now());
    let in_range = page
        .get(&format!("/ui/orders?from={today}&to={today}"))
        .await;
    assert!(in_range.body.contains(&number));
    let before = page.get("/ui/orders?from=2020-01-01&to=2020-01-31").await;
    assert!(!before.body.contains(&number));
    let bad = page.get("/ui/orders?from=yesterday").await;
    assert!(bad.body.contains("不是 YYYY-MM-DD 格式的日期"));
    node.stop().await;
}

#[tokio::test]
async fn the_print_page_shows_the_total_in_chinese_capitals_and_the_copies() {
    let mut node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let customer = node.customer("上海真北家居有限公司").await;
    let order = node.order(&customer, three_lines()).await;
    let id = order["id"].as_str().expect("id");
    let mut page = PageClient::new(&node);
    page.sign_in("李娜", "正确的密码-2026").await;

    // 3 x 1333.33 + 4580.00 + 4 x 312.1250 = 3999.99 + 4580.00 + 1248.50
    let a4 = page.get(&format!("/ui/orders/{id}/print?form=a4")).await;
    assert_eq!(a4.status, StatusCode::OK, "{}", a4.body);
    assert!(a4.body.contains("玖仟捌佰贰拾捌元肆角玖分"), "{}", a4.body);
    assert!(a4.body.contains("¥9,828.49"));
    assert!(a4.body.contains("¥3,999.99"));
    for copy in ["存根", "客户", "财务", "仓库"] {
        assert!(a4.body.contains(copy), "copy {copy}");
    }
    for who in ["制单人：李娜", "审核人", "签收人"] {
        assert!(a4.body.contains(who), "{who}");
    }
    assert_eq!(
        a4.body.matches("class=\"sheet a4\"").count(),
        4,
        "one sheet per copy"
    );
    let continuous = page
        .get(&format!("/ui/orders/{id}/print?form=continuous"))
        .await;
    assert_eq!(
        continuous
            .body
            .matches("class=\"sheet continuous\"")
            .count(),
        1,
        "carbon paper prints once"
    );
    assert!(continuous.body.contains("①存根"));
    let missing = page.get("/ui/orders/no-such-order/print").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("找不到"));
    node.stop().await;
}

#[tokio::test]
async fn each_role_sees_its_own_queues_with_counts_that_link_to_the_list() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海真北家居有限公司").await;
    node.order(&customer, three_lines()).await;
    node.order(&customer, three_lines()).await;
    for (name, role, queue) in [
        ("李娜", Role::Clerk, "待核单"),
        ("周主管", Role::Supervisor, "待审核"),
        ("吴仓管", Role::Warehouse, "待发货"),
        ("郑财务", Role::Finance, "待放行"),
        ("陈副总", Role::Vp, "有异常的订单"),
    ] {
        user_with_password(&node, name, role.as_str(), "每个人的密码-1").await;
        let mut page = PageClient::new(&node);
        page.sign_in(name, "每个人的密码-1").await;
        let home = page.get("/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.body.contains(queue), "{role}: {}", home.body);
    }
    user_with_password(&node, "李内勤", "clerk", "每个人的密码-1").await;
    let mut clerk = PageClient::new(&node);
    clerk.sign_in("李内勤", "每个人的密码-1").await;
    let home = clerk.get("/").await;
    assert!(
        home.body.contains(
            "<a href=\"/ui/orders?status=taken\"><span class=\"count\">2</span>待核单</a>"
        ),
        "{}",
        home.body
    );
    node.stop().await;
}

#[tokio::test]
async fn a_node_whose_peers_never_answered_says_offline_and_still_works() {
    // A loopback port nobody listens on: the configured peer is down from the start.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = neiqin::config::Config::local(tmp.path().join("data"));
    config.peers = vec![down.clone()];
    let mut node = TestNode::start_with(config, Some(tmp)).await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let customer = node.customer("上海真北家居有限公司").await;
    let order = node.order(&customer, three_lines()).await;
    let mut page = PageClient::new(&node);
    page.sign_in("李娜", "正确的密码-2026").await;
    let home = page.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("id=\"offline-banner\""), "{}", home.body);
    assert!(home.body.contains("离线"), "{}", home.body);
    assert!(home.body.contains("尚未共享"), "{}", home.body);
    assert!(home.body.contains(&down), "the peer is listed");
    assert!(!home.body.contains("单机模式"));
    let orders = page.get("/ui/orders").await;
    assert!(orders
        .body
        .contains(order["number"].as_str().expect("number")));
    node.stop().await;
}

#[tokio::test]
async fn nodes_that_have_just_synced_show_online_without_a_banner() {
    let net = crate::testnet::TestNet::start(2).await;
    let node = &net.nodes[0];
    user_with_password(node, "李娜", "clerk", "正确的密码-2026").await;
    let mut page = PageClient::new(node);
    page.sign_in("李娜", "正确的密码-2026").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let home = page.get("/").await;
        if home.body.contains("class=\"sync sync-online\"") {
            assert!(!home.body.contains("offline-banner"), "{}", home.body);
            assert!(
                home.body.contains("node-1"),
                "the peer by name: {}",
                home.body
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never online: {}",
            home.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    net.stop().await;
}

#[tokio::test]
async fn a_user_stored_before_passwords_keeps_their_token_and_can_be_disabled() {
    let node = TestNode::start().await;
    let office = &node.node.as_ref().expect("running").office;
    // Exactly what earlier versions wrote: the token's hash → {name, role}.
    let token = "nq_written_by_an_earlier_version";
    office
        .store
        .put_raw(
            &neiqin::store::keys::user(&neiqin::service::users::token_hash(token)),
            r#"{"name":"老用户","role":"finance"}"#.as_bytes(),
        )
        .expect("raw write");
    assert_eq!(node.get("/api/status", token).await.0, StatusCode::OK);
    let (status, users) = node.get("/api/users", &node.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(users.to_string().contains("老用户"), "{users}");

    let admin = office
        .authenticate(&node.admin)
        .expect("lookup")
        .expect("the admin");
    office
        .set_password(&admin, "老用户", "后来设的密码-1")
        .expect("a password for the old user");
    let mut page = PageClient::new(&node);
    assert_eq!(
        page.sign_in("老用户", "后来设的密码-1").await.status,
        StatusCode::SEE_OTHER
    );
    office
        .set_disabled(&admin, "老用户", true)
        .expect("disabled");
    assert_eq!(
        node.get("/api/status", token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(page.get("/").await.status, StatusCode::SEE_OTHER);
    node.stop().await;
}

/// Posts one action form of the order page, with the page's CSRF token.
async fn act_on_page(
    page: &mut PageClient,
    id: &str,
    action: &str,
    inputs: &[(&str, &str)],
) -> PageAnswer {
    let token = page.get(&format!("/ui/orders/{id}")).await.csrf();
    let mut form = vec![("csrf", token.as_str()), ("action", action)];
    form.extend_from_slice(inputs);
    page.post(&format!("/ui/orders/{id}/act"), &form).await
}

#[tokio::test]
async fn the_order_page_offers_each_role_its_actions_and_says_a_refusal_in_chinese() {
    let mut node = TestNode::start().await;
    for (name, role) in [
        ("李娜", "clerk"),
        ("王主管", "supervisor"),
        ("赵财务", "finance"),
        ("钱仓库", "warehouse"),
    ] {
        user_with_password(&node, name, role, "正确的密码-2026").await;
    }
    let customer = node.customer("上海真北家居有限公司").await;
    let order = node.order(&customer, three_lines()).await;
    let id = order["id"].as_str().expect("id");
    let mut clerk = PageClient::new(&node);
    clerk.sign_in("李娜", "正确的密码-2026").await;

    let list = clerk.get("/ui/orders").await;
    assert!(list.body.contains(&format!("href=\"/ui/orders/{id}\"")));
    let shown = clerk.get(&format!("/ui/orders/{id}")).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    for text in [
        "SF-2108",
        "¥9,828.49",
        "订单金额",
        "未收款",
        "待核单",
        "上海真北家居有限公司",
    ] {
        assert!(shown.body.contains(text), "{text}: {}", shown.body);
    }
    assert!(shown.body.contains("id=\"act-verify\""));
    assert!(
        !shown.body.contains("id=\"act-approve\""),
        "a clerk does not approve"
    );
    assert!(!shown.body.contains("id=\"act-finance-release\""));

    // A forged approve from the clerk is refused by the service, and said in Chinese.
    let forged = act_on_page(&mut clerk, id, "approve", &[]).await;
    assert!(
        forged.body.contains("您的角色不能进行这项操作"),
        "{}",
        forged.body
    );
    // Out of order: a 出货单 before 核单 is refused with the rule's Chinese half.
    let early = act_on_page(
        &mut clerk,
        id,
        "shipping-doc",
        &[
            ("route", "佳吉快运"),
            ("freight_payer", "到付"),
            ("ship_date", "2026-12-18"),
        ],
    )
    .await;
    assert!(
        early.body.contains("订单须核单、审核并下单后才能开出货单"),
        "{}",
        early.body
    );
    assert!(!early.body.contains("a shipping document needs"));

    let verified = act_on_page(&mut clerk, id, "verify", &[]).await;
    assert!(verified.body.contains("已核单"), "{}", verified.body);
    assert!(verified.body.contains("待审核"));
    assert!(
        verified
            .body
            .contains("<td>核单</td><td>李娜</td><td>内勤</td>"),
        "{}",
        verified.body
    );

    let mut supervisor = PageClient::new(&node);
    supervisor.sign_in("王主管", "正确的密码-2026").await;
    let approved = act_on_page(&mut supervisor, id, "approve", &[("note", "同意")]).await;
    assert!(approved.body.contains("已审核"), "{}", approved.body);
    act_on_page(&mut clerk, id, "release", &[]).await;
    let blank_route = act_on_page(
        &mut clerk,
        id,
        "shipping-doc",
        &[
            ("route", ""),
            ("freight_payer", "到付"),
            ("ship_date", "2026-12-18"),
        ],
    )
    .await;
    assert!(
        blank_route.body.contains("出货单须写明运送途径"),
        "{}",
        blank_route.body
    );
    let doc = act_on_page(
        &mut clerk,
        id,
        "shipping-doc",
        &[
            ("route", "佳吉快运"),
            ("freight_payer", "到付"),
            ("ship_date", "2026-12-18"),
        ],
    )
    .await;
    assert!(doc.body.contains("已开出货单"), "{}", doc.body);

    let mut finance = PageClient::new(&node);
    finance.sign_in("赵财务", "正确的密码-2026").await;
    let typo = act_on_page(
        &mut finance,
        id,
        "payment",
        &[
            ("amount", "九千"),
            ("date", "2026-12-01"),
            ("method", "bank"),
            ("payer", "张伟"),
            ("bank_ref", "R-1"),
        ],
    )
    .await;
    assert!(typo.body.contains("不是数字"), "{}", typo.body);
    let paid = act_on_page(
        &mut finance,
        id,
        "payment",
        &[
            ("amount", "9,828.49"),
            ("date", "2026-12-01"),
            ("method", "bank"),
            ("payer", "张伟"),
            ("bank_ref", "R-1"),
        ],
    )
    .await;
    assert!(paid.body.contains("已登记收款"), "{}", paid.body);
    assert!(paid.body.contains("收款 ¥9,828.49"));
    let released = act_on_page(&mut finance, id, "finance-release", &[]).await;
    assert!(released.body.contains("待发货"), "{}", released.body);

    let mut warehouse = PageClient::new(&node);
    warehouse.sign_in("钱仓库", "正确的密码-2026").await;
    let shipped = act_on_page(
        &mut warehouse,
        id,
        "ship",
        &[
            ("carrier", "佳吉快运"),
            ("waybill", "JJ-1"),
            ("cartons", "3"),
        ],
    )
    .await;
    assert!(shipped.body.contains("已发货"), "{}", shipped.body);
    let api = node.get(&format!("/api/orders/{id}"), &node.admin).await.1;
    assert_eq!(api["status"], "shipped", "{api}");
    node.stop().await;
}

/// The public id of the open anomaly of `kind` on `order`, from the API's inbox.
async fn anomaly_id(node: &TestNode, order: &str, kind: &str) -> String {
    let (status, inbox) = node.get("/api/anomalies", &node.admin).await;
    assert_eq!(status, StatusCode::OK);
    inbox
        .as_array()
        .expect("a list")
        .iter()
        .find(|a| a["order_id"] == order && a["anomaly"]["kind"] == kind)
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no {kind} on {order}: {inbox}"))
        .to_string()
}

#[tokio::test]
async fn the_anomaly_inbox_shows_each_role_its_own_and_closes_them_by_form_or_says_what_to_do() {
    use crate::flow::{act, ship_all};
    let mut node = TestNode::start().await;
    for (name, role) in [
        ("李娜", "clerk"),
        ("赵财务", "finance"),
        ("钱仓库", "warehouse"),
        ("陈副总", "vp"),
        ("王主任", "admin"),
    ] {
        user_with_password(&node, name, role, "正确的密码-2026").await;
    }
    let customer = node.customer("上海真北家居有限公司").await;
    // A: goods that left without a finance release (finance or a clerk closes it with a text).
    let a = node.order(&customer, three_lines()).await;
    let a_id = a["id"].as_str().expect("id").to_string();
    let left = json!({"lines": ship_all(&a), "carrier": "佳吉快运", "waybill": "JJ-1", "cartons": 1, "already_left": true});
    act(&mut node, Role::Warehouse, &a_id, "shipments", left.clone()).await;
    // B: cancelled, then goods left anyway (the VP's), and without a release too.
    let b = node.order(&customer, three_lines()).await;
    let b_id = b["id"].as_str().expect("id").to_string();
    act(
        &mut node,
        Role::Vp,
        &b_id,
        "cancel",
        json!({"reason": "客户撤单"}),
    )
    .await;
    let left_b = json!({"lines": ship_all(&b), "carrier": "佳吉快运", "waybill": "JJ-2", "cartons": 1, "already_left": true});
    act(&mut node, Role::Warehouse, &b_id, "shipments", left_b).await;
    // C: invoiced under a title the clerk then changed: only a 红冲 removes it (finance's).
    let c = node.order(&customer, three_lines()).await;
    let c_id = c["id"].as_str().expect("id").to_string();
    act(
        &mut node,
        Role::Finance,
        &c_id,
        "invoices",
        json!({"number": "04400999", "title": "上海真北家居有限公司", "amount": "9828.49"}),
    )
    .await;
    let clerk_token = node.token(Role::Clerk).await;
    let (status, body) = node
        .send(
            "PATCH",
            &format!("/api/orders/{c_id}"),
            &clerk_token,
            Some(json!({"invoice_title": "上海真北家居销售有限公司"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let a_anomaly = anomaly_id(&node, &a_id, "shipped_without_release").await;
    let cancelled_anomaly = anomaly_id(&node, &b_id, "shipped_while_cancelled").await;
    let title_anomaly = anomaly_id(&node, &c_id, "invoice_title_mismatch").await;

    let kinds = |body: &str, kind: &str| body.matches(&format!("data-kind=\"{kind}\"")).count();
    let mut pages = Vec::new();
    for (name, without, invoice_title, cancelled) in [
        ("李娜", 2, 0, 0),
        ("赵财务", 2, 1, 0),
        ("钱仓库", 0, 0, 0),
        ("陈副总", 0, 0, 1),
        ("王主任", 2, 1, 1),
    ] {
        let mut page = PageClient::new(&node);
        page.sign_in(name, "正确的密码-2026").await;
        let inbox = page.get("/ui/anomalies").await;
        assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
        assert!(inbox.body.contains("异常收件箱"));
        assert_eq!(
            kinds(&inbox.body, "shipped-without-release"),
            without,
            "{name}: {}",
            inbox.body
        );
        assert_eq!(kinds(&inbox.body, "invoice-title"), invoice_title, "{name}");
        assert_eq!(
            kinds(&inbox.body, "shipped-while-cancelled"),
            cancelled,
            "{name}"
        );
        if without + invoice_title + cancelled == 0 {
            assert!(inbox.body.contains("没有需要处理的异常"), "{name}");
        }
        pages.push(page);
    }
    let (mut clerk, mut finance, mut vp) = {
        let mut it = pages.into_iter();
        let clerk = it.next().expect("clerk");
        let finance = it.next().expect("finance");
        let _warehouse = it.next();
        (clerk, finance, it.next().expect("vp"))
    };

    // The clerk's inbox: the order linked, the kind in Chinese, a form for the text.
    let inbox = clerk.get("/ui/anomalies").await;
    assert!(inbox.body.contains(&format!("href=\"/ui/orders/{a_id}\"")));
    assert!(inbox.body.contains(a["number"].as_str().expect("number")));
    assert!(inbox.body.contains("未经财务放行发货"), "{}", inbox.body);
    assert!(
        inbox.body.contains("warehouse-user（仓库）")
            && inbox.body.contains("当时该节点没有看到财务放行"),
        "the detail in Chinese: {}",
        inbox.body
    );
    assert!(inbox.body.contains("action=\"/ui/anomalies/resolve\""));
    // The home page's anomaly count and the nav lead here.
    let home = clerk.get("/").await;
    assert!(home
        .body
        .contains("<a href=\"/ui/anomalies\"><span class=\"count\">"));
    assert!(home.body.contains("异常收件箱"));

    let csrf = inbox.csrf();
    let blank = clerk
        .post(
            "/ui/anomalies/resolve",
            &[("csrf", &csrf), ("id", &a_anomaly), ("resolution", " ")],
        )
        .await;
    assert!(blank.body.contains("请写明处理结果"), "{}", blank.body);
    let no_token = clerk
        .post(
            "/ui/anomalies/resolve",
            &[("id", &a_anomaly), ("resolution", "已补放行")],
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let done = clerk
        .post(
            "/ui/anomalies/resolve",
            &[
                ("csrf", &csrf),
                ("id", &a_anomaly),
                ("resolution", "客户现款提货，财务已确认"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("已记录处理结果"), "{}", done.body);
    assert_eq!(
        kinds(&done.body, "shipped-without-release"),
        1,
        "{}",
        done.body
    );
    let api = node
        .get(&format!("/api/orders/{a_id}"), &node.admin)
        .await
        .1;
    assert!(
        api["anomalies"]
            .to_string()
            .contains("客户现款提货，财务已确认"),
        "{api}"
    );
    // Twice: already closed.
    let again = clerk
        .post(
            "/ui/anomalies/resolve",
            &[
                ("csrf", &csrf),
                ("id", &a_anomaly),
                ("resolution", "再来一次"),
            ],
        )
        .await;
    assert!(again.body.contains("可能已被别人处理"), "{}", again.body);
    // Not the clerk's: refused in Chinese.
    let not_mine = clerk
        .post(
            "/ui/anomalies/resolve",
            &[
                ("csrf", &csrf),
                ("id", &cancelled_anomaly),
                ("resolution", "我来"),
            ],
        )
        .await;
    assert!(
        not_mine.body.contains("您的角色不能进行这项操作"),
        "{}",
        not_mine.body
    );

    // Only a fact removes the wrong title: instructions, no form, and a text is refused.
    let inbox = finance.get("/ui/anomalies").await;
    let row_start = inbox
        .body
        .find(&format!("id=\"anomaly-{title_anomaly}\""))
        .expect("the title row");
    let row = &inbox.body[row_start..];
    let row = &row[..row.find("</tr>").expect("row end")];
    assert!(row.contains("财务须红冲抬头不符的发票并重开"), "{row}");
    assert!(row.contains("不能以文字说明关闭"), "{row}");
    assert!(
        row.contains("发票 04400999 的抬头是“上海真北家居有限公司”，与核单的开票名称“上海真北家居销售有限公司”不符"),
        "{row}"
    );
    assert!(
        row.contains(&format!("href=\"/ui/orders/{c_id}\"")),
        "{row}"
    );
    assert!(!row.contains("<form"), "{row}");
    let csrf = inbox.csrf();
    let refused = finance
        .post(
            "/ui/anomalies/resolve",
            &[
                ("csrf", &csrf),
                ("id", &title_anomaly),
                ("resolution", "已知悉"),
            ],
        )
        .await;
    assert!(
        refused
            .body
            .contains("此异常不能以文字关闭：财务须红冲抬头不符的发票并重开"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("cannot be closed"), "Chinese only");
    // The fact it asks for is on the order page: finance 红冲 the invoice, and it is gone.
    let c_now = node
        .get(&format!("/api/orders/{c_id}"), &node.admin)
        .await
        .1;
    let invoice = c_now["facts"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == "invoice"))
        .and_then(|f| f["id"].as_str())
        .expect("the invoice fact")
        .to_string();
    let order_page = finance.get(&format!("/ui/orders/{c_id}")).await;
    assert!(order_page.body.contains("红冲发票"), "{}", order_page.body);
    assert!(order_page
        .body
        .contains(&format!("name=\"fact\" value=\"{invoice}\"")));
    let voided = act_on_page(
        &mut finance,
        &c_id,
        "void-invoice",
        &[("fact", &invoice), ("reason", "抬头错误，红冲重开")],
    )
    .await;
    assert!(voided.body.contains("已红冲发票"), "{}", voided.body);
    let inbox = finance.get("/ui/anomalies").await;
    assert_eq!(kinds(&inbox.body, "invoice-title"), 0, "{}", inbox.body);

    // The order page has the same form; the VP closes the cancelled order's there.
    let order_page = vp.get(&format!("/ui/orders/{b_id}")).await;
    assert!(
        order_page.body.contains("取消后仍有发货"),
        "{}",
        order_page.body
    );
    assert!(order_page
        .body
        .contains(&format!("name=\"order\" value=\"{b_id}\"")));
    let csrf = order_page.csrf();
    let closed = vp
        .post(
            "/ui/anomalies/resolve",
            &[
                ("csrf", &csrf),
                ("id", &cancelled_anomaly),
                ("resolution", "货已由客户签收，恢复订单处理"),
                ("order", &b_id),
            ],
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK);
    assert!(closed.body.contains("已记录处理结果"), "{}", closed.body);
    assert!(
        closed.body.contains("id=\"order-lines\""),
        "back on the order page"
    );
    assert!(!closed
        .body
        .contains(&format!("id=\"anomaly-{cancelled_anomaly}\"")));
    node.stop().await;
}

#[tokio::test]
async fn a_clerk_takes_an_order_on_the_entry_form_finding_the_customer_by_pinyin_initials() {
    let mut node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    user_with_password(&node, "吴仓管", "warehouse", "正确的密码-2026").await;
    let xinhua = node.customer("北京鑫华家具有限公司").await;
    node.customer("上海真北家居有限公司").await;
    let mut page = PageClient::new(&node);
    page.sign_in("李娜", "正确的密码-2026").await;

    for q in ["bjxh", "BJXH", "xhjj", "鑫华", "北京"] {
        let lookup = page
            .get(&format!(
                "/ui/customers/lookup{}",
                neiqin::ui::format::query_string(&[("q", q)])
            ))
            .await;
        assert_eq!(lookup.status, StatusCode::OK, "{}", lookup.body);
        let found: serde_json::Value = serde_json::from_str(&lookup.body).expect("JSON");
        let found = found.as_array().expect("a list");
        assert_eq!(found.len(), 1, "{q}: {found:?}");
        assert_eq!(found[0]["id"], xinhua.as_str(), "{q}");
        assert!(
            found[0]["label"]
                .as_str()
                .is_some_and(|l| l.contains("北京鑫华家具有限公司")),
            "{q}: {found:?}"
        );
    }
    let nobody = page.get("/ui/customers/lookup?q=zzzz").await;
    assert_eq!(nobody.body, "[]");

    let form = page.get("/ui/orders/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("新建订单"));
    assert!(
        form.body.contains("name=\"sku_4\"") && !form.body.contains("name=\"sku_5\""),
        "five blank lines without script"
    );
    let csrf = form.csrf();
    let typed = |quantity: &'static str| {
        vec![
            ("customer_q", "bjxh"),
            ("customer_id", ""),
            ("project", "国贸三期"),
            ("salesperson", "刘强"),
            ("sku_0", "SF-2108"),
            ("spec_0", "三人位沙发"),
            ("unit_0", "套"),
            ("quantity_0", quantity),
            ("unit_price_0", "1333.33"),
            ("sku_1", "CT-09"),
            ("spec_1", "茶几"),
            ("unit_1", "张"),
            ("quantity_1", "2"),
            ("unit_price_1", "4,580"),
            ("sku_2", ""),
            ("quantity_2", ""),
        ]
    };

    let no_token = page.post("/ui/orders/new", &typed("3")).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.body.contains("安全校验失败"));
    assert_eq!(node.order_count().await, 0);

    let with_token = |quantity: &'static str| {
        let mut form = typed(quantity);
        form.push(("csrf", csrf.as_str()));
        form
    };
    let bad = page.post("/ui/orders/new", &with_token("三")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("数量“三”不是数字"), "{}", bad.body);
    for kept in [
        "value=\"三\"",
        "value=\"国贸三期\"",
        "value=\"刘强\"",
        "value=\"CT-09\"",
        "value=\"4,580\"",
        "value=\"bjxh\"",
    ] {
        assert!(bad.body.contains(kept), "{kept} kept: {}", bad.body);
    }
    assert!(
        bad.body.contains(&format!("value=\"{xinhua}\"")),
        "the customer found is kept"
    );
    assert!(
        bad.body.contains("¥9,160.00"),
        "the line that reads has its amount"
    );
    let zero = page.post("/ui/orders/new", &with_token("0")).await;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(zero.body.contains("数量须大于零"), "{}", zero.body);
    assert!(!zero.body.contains("greater than zero"), "Chinese only");
    assert_eq!(node.order_count().await, 0);

    let done = page.post("/ui/orders/new", &with_token("3")).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let id = done
        .location()
        .strip_prefix("/ui/orders/")
        .expect("the new order's page")
        .to_string();
    let (status, order) = node.get(&format!("/api/orders/{id}"), &node.admin).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["customer_id"], xinhua.as_str());
    assert_eq!(order["project"], "国贸三期");
    assert_eq!(
        order["store"], "SH-001",
        "the customer's code, as the API does"
    );
    assert_eq!(order["status"], "taken");
    assert_eq!(order["totals"]["gross"], "13159.99", "{order}");
    assert_eq!(order["lines"].as_array().map(Vec::len), Some(2));
    let shown = page.get(done.location()).await;
    assert!(shown.body.contains("北京鑫华家具有限公司"));

    // Two customers match: the form asks which one, without script too.
    node.customer("北京鑫华家具二店").await;
    let two = page.post("/ui/orders/new", &with_token("3")).await;
    assert_eq!(two.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(two.body.contains("有多个客户符合“bjxh”"), "{}", two.body);
    assert!(two.body.contains("type=\"radio\" name=\"customer_id\""));

    let mut warehouse = PageClient::new(&node);
    warehouse.sign_in("吴仓管", "正确的密码-2026").await;
    assert_eq!(
        warehouse.get("/ui/orders/new").await.status,
        StatusCode::FORBIDDEN
    );
    assert!(!warehouse.get("/").await.body.contains("新建订单"));
    node.stop().await;
}

#[tokio::test]
async fn a_clerk_merges_duplicate_customer_archives_from_the_inbox() {
    let mut node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    user_with_password(&node, "赵财务", "finance", "正确的密码-2026").await;
    let kept = node.customer("北京鑫华家具有限公司").await;
    let twin = node.customer("北京鑫华家具有限公司").await;
    let mut finance = PageClient::new(&node);
    finance.sign_in("赵财务", "正确的密码-2026").await;
    let theirs = finance.get("/ui/anomalies").await;
    assert!(!theirs.body.contains("data-kind=\"duplicate-customer\""));

    let mut clerk = PageClient::new(&node);
    clerk.sign_in("李娜", "正确的密码-2026").await;
    let inbox = clerk.get("/ui/anomalies").await;
    assert_eq!(
        inbox
            .body
            .matches("data-kind=\"duplicate-customer\"")
            .count(),
        1,
        "{}",
        inbox.body
    );
    assert!(inbox.body.contains("重复的客户档案"));
    assert!(inbox.body.contains("内勤须合并重复的客户档案"));
    assert!(inbox
        .body
        .contains(&format!("name=\"keep\" value=\"{twin}\"")));
    let (_, listed) = node.get("/api/anomalies", &node.admin).await;
    let id = listed
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|a| a["anomaly"]["kind"] == "duplicate_customer")
        })
        .and_then(|a| a["id"].as_str())
        .expect("the duplicate")
        .to_string();
    let csrf = inbox.csrf();
    let unpicked = clerk
        .post(
            "/ui/anomalies/resolve",
            &[("csrf", &csrf), ("id", &id), ("resolution", "同一客户")],
        )
        .await;
    assert!(
        unpicked.body.contains("请选择要保留的客户档案"),
        "{}",
        unpicked.body
    );
    let merged = clerk
        .post(
            "/ui/anomalies/resolve",
            &[
                ("csrf", &csrf),
                ("id", &id),
                ("keep", &kept),
                ("resolution", "同一客户，两台电脑各建了一份"),
            ],
        )
        .await;
    assert!(merged.body.contains("已合并客户档案"), "{}", merged.body);
    assert!(!merged.body.contains("data-kind=\"duplicate-customer\""));
    let (_, other) = node
        .get(&format!("/api/customers/{twin}"), &node.admin)
        .await;
    assert_eq!(other["merged_into"], kept.as_str(), "{other}");
    node.stop().await;
}

/// Finance's home counts the payments to look at: the same bank transfer entered on two nodes
/// apart shows as 重复或可疑收款, linking to finance's inbox.
#[tokio::test]
async fn finance_home_counts_a_bank_transfer_entered_twice_on_two_nodes() {
    let mut net = crate::testnet::TestNet::start(2).await;
    let customer = net.nodes[0].customer("上海红星美凯龙真北店").await;
    let order = net.nodes[0].order(&customer, three_lines()).await;
    let id = order["id"].as_str().unwrap().to_string();
    net.settle(std::time::Duration::from_secs(30)).await;
    user_with_password(&net.nodes[0], "郑财务", "finance", "每个人的密码-1").await;
    let mut finance = PageClient::new(&net.nodes[0]);
    finance.sign_in("郑财务", "每个人的密码-1").await;
    let queue = "<a href=\"/ui/anomalies\"><span class=\"count\">{}</span>重复或可疑收款</a>";
    let home = finance.get("/").await;
    assert!(
        home.body.contains(&queue.replace("{}", "0")),
        "{}",
        home.body
    );

    net.partition(&[&[0], &[1]]);
    let pay = json!({"amount": "2948.55", "date": "2026-11-26", "method": "bank",
                     "payer": "张伟", "bank_ref": "CMB-TWICE-1"});
    for i in 0..2 {
        crate::flow::act(
            &mut net.nodes[i],
            Role::Finance,
            &id,
            "payments",
            pay.clone(),
        )
        .await;
    }
    net.heal();
    net.settle(std::time::Duration::from_secs(30)).await;
    let home = finance.get("/").await;
    assert!(
        home.body.contains(&queue.replace("{}", "1")),
        "{}",
        home.body
    );
    net.stop().await;
}

/// 导出Excel on the order list downloads what the filters select, every page of it, with the
/// totals; the workbook opens with calamine.
#[tokio::test]
async fn the_order_list_exports_what_its_filters_select_as_a_workbook() {
    use calamine::{Data, Reader, Xlsx};
    let mut node = TestNode::start().await;
    let zhenbei = node.customer("上海真北家居有限公司").await;
    let other = node.customer("杭州滨江家居").await;
    let first = node.order(&zhenbei, three_lines()).await;
    node.order(&zhenbei, three_lines()).await;
    node.order(&other, three_lines()).await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let mut page = PageClient::new(&node);
    page.sign_in("李娜", "正确的密码-2026").await;
    let list = page.get(&format!("/ui/orders?customer={zhenbei}")).await;
    let marker = "id=\"export-orders\"";
    assert!(list.body.contains(marker), "{}", list.body);
    let link = &list.body[..list.body.find(marker).unwrap()];
    let href = &link[link.rfind("href=\"").unwrap() + 6..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    assert!(href.starts_with("/ui/orders/export?"), "{href}");

    let cells = |bytes: Vec<u8>| -> Vec<Data> {
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("a workbook");
        let sheet = book.worksheet_range("报表").expect("sheet");
        sheet.rows().flatten().cloned().collect()
    };
    let (status, content_type, bytes) = page.get_bytes(&href).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    let got = cells(bytes);
    assert!(
        got.contains(&Data::String("订单列表（2 张）".into())),
        "{got:?}"
    );
    assert!(got.contains(&Data::String("上海真北家居有限公司".into())));
    assert!(!got.contains(&Data::String("杭州滨江家居".into())));
    let gross: f64 = first["totals"]["gross"].as_str().unwrap().parse().unwrap();
    assert!(
        got.contains(&Data::Float(gross * 2.0)),
        "the total: {got:?}"
    );

    // A number search among them, and a status that holds none.
    let number = first["number"].as_str().unwrap();
    let (_, _, bytes) = page
        .get_bytes(&format!("/ui/orders/export?q={number}"))
        .await;
    let got = cells(bytes);
    assert!(
        got.contains(&Data::String("订单列表（1 张）".into())),
        "{got:?}"
    );
    assert!(got.contains(&Data::String(number.into())));
    let (_, _, bytes) = page.get_bytes("/ui/orders/export?status=shipped").await;
    assert!(cells(bytes).contains(&Data::String("订单列表（0 张）".into())));
    node.stop().await;
}

/// 并排比较: the inbox links duplicate archives side by side, the rows that differ marked; the
/// clerk merges from there, and a role that does not merge sees no merge form.
#[tokio::test]
async fn duplicate_archives_are_compared_side_by_side_and_merged_from_there() {
    let mut node = TestNode::start().await;
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    user_with_password(&node, "赵财务", "finance", "正确的密码-2026").await;
    let kept = node.customer("北京鑫华家具有限公司").await;
    let mut body = crate::harness::customer_body("北京鑫华家具有限公司");
    body["city"] = json!("天津");
    body["contacts"] = json!([{"name": "李强", "role": "采购", "mobile": "13900001111"}]);
    let clerk_token = node.token(Role::Clerk).await;
    let (status, twin) = node.post("/api/customers", &clerk_token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{twin}");
    let twin = twin["id"].as_str().unwrap().to_string();

    let mut clerk = PageClient::new(&node);
    clerk.sign_in("李娜", "正确的密码-2026").await;
    let inbox = clerk.get("/ui/anomalies").await;
    let marker = "class=\"compare-link\"";
    let at = inbox.body.find(marker).expect("a 并排比较 link");
    let link = &inbox.body[..at];
    let href = &link[link.rfind("href=\"").unwrap() + 6..];
    let href = href[..href.find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let page = clerk.get(&href).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let row_of = |label: &str| {
        let at = page.body.find(&format!("<th>{label}")).expect(label);
        let start = page.body[..at].rfind("<tr").unwrap();
        page.body[start..at].to_string()
    };
    assert!(row_of("城市").contains("differs"), "{}", page.body);
    assert!(row_of("联系人").contains("differs"));
    assert!(!row_of("名称").contains("differs"));
    assert!(page.body.contains("天津") && page.body.contains("李强"));
    assert!(page.body.contains("id=\"merge-form\""), "{href}");
    let anomaly = href.split("anomaly=").nth(1).unwrap().to_string();
    let merged = clerk
        .post(
            "/ui/anomalies/resolve",
            &[
                ("csrf", &page.csrf()),
                ("id", &anomaly),
                ("keep", &kept),
                ("resolution", "同一客户"),
            ],
        )
        .await;
    assert!(merged.body.contains("已合并客户档案"), "{}", merged.body);

    let mut finance = PageClient::new(&node);
    finance.sign_in("赵财务", "正确的密码-2026").await;
    let theirs = finance.get(&href).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(!theirs.body.contains("id=\"merge-form\""));
    let one = finance
        .get(&format!("/ui/customers/compare?ids={kept}"))
        .await;
    assert!(one.body.contains("请选择 2 到 4 份档案"), "{}", one.body);
    let (_, other) = node
        .get(&format!("/api/customers/{twin}"), &node.admin)
        .await;
    assert_eq!(other["merged_into"], kept.as_str(), "{other}");
    node.stop().await;
}

/// The order list filters by salesperson (业务员), in the workbench and in the API, and keeps
/// the filter across its links.
#[tokio::test]
async fn the_order_list_filters_by_salesperson() {
    let mut node = TestNode::start().await;
    let customer = node.customer("上海真北家居有限公司").await;
    let clerk_token = node.token(Role::Clerk).await;
    let mut numbers = Vec::new();
    for salesperson in ["王磊", "赵强", "王磊"] {
        let mut body = crate::harness::order_body(&customer, three_lines());
        body["salesperson"] = json!(salesperson);
        let (status, order) = node.post("/api/orders", &clerk_token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        numbers.push(order["number"].as_str().unwrap().to_string());
    }
    user_with_password(&node, "李娜", "clerk", "正确的密码-2026").await;
    let mut page = PageClient::new(&node);
    page.sign_in("李娜", "正确的密码-2026").await;
    let list = page.get("/ui/orders?salesperson=%E8%B5%B5%E5%BC%BA").await;
    assert!(
        list.body.contains(&format!(">{}</a>", numbers[1])),
        "{}",
        list.body
    );
    assert!(!list.body.contains(&format!(">{}</a>", numbers[0])));
    assert!(list.body.contains("name=\"salesperson\" value=\"赵强\""));
    assert!(
        list.body.contains("salesperson=%E8%B5%B5%E5%BC%BA"),
        "tabs and export keep the filter"
    );
    let (status, api) = node
        .get("/api/orders?salesperson=%E7%8E%8B%E7%A3%8A", &clerk_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{api}");
    let got: Vec<&str> = api["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [numbers[2].as_str(), numbers[0].as_str()],
        "newest first"
    );
    node.stop().await;
}
