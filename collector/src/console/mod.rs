//! The gateway console: pages for the people who commission a plant (electricians and energy
//! managers), served on the `[health]` listener when `[console]` is configured. An overview of
//! every device and subscription, a device page with each point's live value next to the raw
//! registers or frame it came from (and what the other word orders would make of them), the
//! latest dead letters, and the config with a check that shows each problem at its line and an
//! apply that reloads without a restart ([`crate::reload`]). Values refresh every second by
//! server-sent events. Chinese or English by the browser's language, switchable.
//!
//! Off loopback the console needs a token (`token_env` / `token_file`): given once on the sign-in
//! page it is kept in an HttpOnly, SameSite=Strict cookie; scripts may send it as a bearer token.
//! Changing requests must carry `X-Console: 1`, which a cross-site form cannot send.

pub mod discover;
pub mod i18n;
pub mod locate;
pub mod pages;
pub mod probe;
pub mod spec;
pub mod view;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::health::Health;
use crate::live::Live;
use crate::reload::ReloadRequest;
use i18n::Lang;

pub use spec::{ConsoleConfig, ConsoleSpec};

/// How long one event stream lasts before the browser reconnects: under the listener's
/// per-connection deadline, which guards it against clients that stop reading.
const STREAM_LIFE: Duration = Duration::from_secs(8);
/// The cookie that carries the token.
const TOKEN_COOKIE: &str = "collector_console";
/// The longest config text the console accepts.
const MAX_CONFIG_BYTES: usize = 1 << 20;

/// What the console reads and whom it asks to reload.
pub struct Console {
    pub health: Arc<Health>,
    pub live: Arc<Live>,
    /// The config running now (replaced on each reload).
    pub config: Arc<StdMutex<Config>>,
    pub token: Option<String>,
    pub reload: mpsc::Sender<ReloadRequest>,
    /// The open lines, for reads that take their turn on them.
    pub links: crate::sources::Links,
    /// Scans started from the discovery page.
    pub scans: Arc<discover::Jobs>,
}

impl Console {
    fn config(&self) -> Config {
        self.config.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The console's routes, behind its sign-in check.
pub fn router(console: Arc<Console>) -> Router {
    let guarded = Router::new()
        .route("/", get(overview))
        .route("/device/:name", get(device))
        .route("/dead-letters", get(dead_letters))
        .route("/config", get(config_page))
        .route("/events", get(events))
        .route("/api/check", post(check))
        .route("/api/apply", post(apply))
        .route("/try", get(try_page))
        .route("/api/read", post(try_read))
        .route("/discover", get(discover_page))
        .route("/api/scan", post(start_scan))
        .route("/api/scan/:id", get(scan_state))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&console), guard));
    Router::new().route("/login", get(login_page).post(login)).merge(guarded).with_state(console)
}

/// The language of a request, and the cookie that remembers a switch.
fn language(headers: &HeaderMap, query: &HashMap<String, String>) -> (Lang, Option<HeaderValue>) {
    let cookie = cookie(headers, "lang");
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let lang = Lang::choose(query.get("lang").map(String::as_str), cookie.as_deref(), accept);
    let remember = query.get("lang").and_then(|_| HeaderValue::from_str(&format!("lang={}; Path=/; SameSite=Strict; Max-Age=31536000", lang.code())).ok());
    (lang, remember)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Equal strings, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn guard(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    if let Some(token) = &console.token {
        let bearer = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let presented = bearer.map(str::to_owned).or_else(|| cookie(request.headers(), TOKEN_COOKIE));
        if !presented.is_some_and(|p| same(&p, token)) {
            return if request.method() == Method::GET { Redirect::to("/login").into_response() } else { (StatusCode::UNAUTHORIZED, "sign in first\n").into_response() };
        }
    }
    if request.method() == Method::POST && request.headers().get("x-console").is_none_or(|v| v != "1") {
        return (StatusCode::FORBIDDEN, "changing requests must carry X-Console: 1\n").into_response();
    }
    next.run(request).await
}

fn page(html: String, remember: Option<HeaderValue>) -> Response {
    let mut response = Html(html).into_response();
    if let Some(c) = remember {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}

async fn overview(State(console): State<Arc<Console>>, headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    let (lang, remember) = language(&headers, &query);
    let snapshot = view::snapshot(&console.health, &console.live, &console.config());
    page(pages::overview(lang, &snapshot), remember)
}

async fn device(State(console): State<Arc<Console>>, Path(name): Path<String>, headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    let (lang, remember) = language(&headers, &query);
    match view::device(&console.health, &console.live, &console.config(), &name) {
        Some(d) => page(pages::device(lang, &d), remember),
        None => (StatusCode::NOT_FOUND, Html(pages::not_found(lang, &name))).into_response(),
    }
}

async fn dead_letters(State(console): State<Arc<Console>>, headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    let (lang, remember) = language(&headers, &query);
    let letters = view::dead_letters(console.health.dead_letters.dir(), 100);
    page(pages::dead_letters(lang, &letters), remember)
}

async fn config_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    let (lang, remember) = language(&headers, &query);
    let file = console.config().file;
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| format!("# cannot read {}: {e}\n", file.display()));
    page(pages::config(lang, &file.display().to_string(), &text), remember)
}

/// The live snapshot every second, as JSON events, for a while; the browser then reconnects.
async fn events(State(console): State<Arc<Console>>, Query(query): Query<HashMap<String, String>>) -> impl IntoResponse {
    let device = query.get("device").cloned();
    let until = tokio::time::Instant::now() + STREAM_LIFE;
    let stream = futures_util::stream::unfold(true, move |first| {
        let console = Arc::clone(&console);
        let device = device.clone();
        async move {
            if !first {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if tokio::time::Instant::now() >= until {
                return None;
            }
            let json = match &device {
                Some(name) => view::device(&console.health, &console.live, &console.config(), name).and_then(|d| serde_json::to_string(&d).ok()),
                None => serde_json::to_string(&view::snapshot(&console.health, &console.live, &console.config())).ok(),
            };
            let event = Event::default().retry(Duration::from_millis(500)).data(json.unwrap_or_else(|| "{}".into()));
            Some((Ok::<_, Infallible>(event), false))
        }
    });
    Sse::new(stream)
}

/// A config text the browser sends.
#[derive(Deserialize)]
struct ConfigText {
    text: String,
}

/// One problem of a checked config, at its line where it has one.
#[derive(Serialize)]
struct Problem {
    line: Option<usize>,
    key: String,
    message: String,
}

#[derive(Serialize)]
struct Checked {
    ok: bool,
    problems: Vec<Problem>,
    /// What applying changed, or why it changed nothing.
    outcome: Option<String>,
}

fn problems(text: &str, errors: &crate::config::ConfigErrors) -> Vec<Problem> {
    errors
        .0
        .iter()
        .map(|e| Problem { line: e.position.map(|(l, _)| l).or_else(|| locate::line_of(text, &e.key)), key: e.key.clone(), message: e.message.clone() })
        .collect()
}

async fn check(State(console): State<Arc<Console>>, Json(body): Json<ConfigText>) -> Response {
    if body.text.len() > MAX_CONFIG_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the config is over 1 MiB\n").into_response();
    }
    let file = console.config().file;
    let checked = match Config::parse(&file, &body.text) {
        Ok(_) => Checked { ok: true, problems: Vec::new(), outcome: None },
        Err(errors) => Checked { ok: false, problems: problems(&body.text, &errors), outcome: None },
    };
    Json(checked).into_response()
}

async fn apply(State(console): State<Arc<Console>>, Json(body): Json<ConfigText>) -> Response {
    if body.text.len() > MAX_CONFIG_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the config is over 1 MiB\n").into_response();
    }
    let file = console.config().file;
    // Checked here first so that the problems come back with their lines.
    if let Err(errors) = Config::parse(&file, &body.text) {
        // 200 with ok = false: the request was fine, the config was not (and browsers log every
        // non-2xx answer as an error).
        return Json(Checked { ok: false, problems: problems(&body.text, &errors), outcome: None }).into_response();
    }
    let (reply, outcome) = oneshot::channel();
    if console.reload.send(ReloadRequest { text: Some(body.text), reply: Some(reply) }).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the collector is shutting down\n").into_response();
    }
    match outcome.await {
        Ok(Ok(changes)) => Json(Checked { ok: true, problems: Vec::new(), outcome: Some(changes.to_string()) }).into_response(),
        Ok(Err(e)) => Json(Checked { ok: false, problems: Vec::new(), outcome: Some(e.to_string()) }).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the collector is shutting down\n").into_response(),
    }
}

async fn try_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    let (lang, remember) = language(&headers, &query);
    page(pages::try_point(lang, &probe::endpoints(&console.links)), remember)
}

async fn try_read(State(console): State<Arc<Console>>, Json(ask): Json<probe::TryRead>) -> Response {
    Json(probe::read(&console.links, &ask).await).into_response()
}

async fn discover_page(headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    let (lang, remember) = language(&headers, &query);
    page(pages::discover(lang), remember)
}

async fn start_scan(State(console): State<Arc<Console>>, Json(ask): Json<discover::ScanAsk>) -> Response {
    match console.scans.start(&ask, &console.links) {
        Ok(id) => Json(serde_json::json!({ "id": id })).into_response(),
        Err(error) => Json(serde_json::json!({ "error": error })).into_response(),
    }
}

async fn scan_state(State(console): State<Arc<Console>>, Path(id): Path<u64>) -> Response {
    match console.scans.view(id) {
        Some(job) => Json(job).into_response(),
        None => (StatusCode::NOT_FOUND, "no such scan\n").into_response(),
    }
}

async fn login_page(headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    let (lang, remember) = language(&headers, &query);
    page(pages::login(lang, query.contains_key("failed")), remember)
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

async fn login(State(console): State<Arc<Console>>, Form(form): Form<Login>) -> Response {
    let Some(token) = &console.token else { return Redirect::to("/").into_response() };
    if !same(&form.token, token) {
        return Redirect::to("/login?failed").into_response();
    }
    let mut response = Redirect::to("/").into_response();
    if let Ok(c) = HeaderValue::from_str(&format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd") && !same("abc", "ab") && !same("", "a"));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("lang=zh; collector_console=s3cret"));
        assert_eq!(cookie(&h, TOKEN_COOKIE).as_deref(), Some("s3cret"));
        assert_eq!(cookie(&h, "lang").as_deref(), Some("zh"));
        assert_eq!(cookie(&h, "other"), None);
    }
}
