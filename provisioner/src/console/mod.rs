//! The console: `mlinfra serve`'s web UI at `/ui`, in the same binary, server-rendered HTML with
//! no script and nothing fetched from elsewhere. People sign in with the environment's accounts
//! (`mlinfra users`) and act as themselves: a registry request or approval made here is recorded
//! under the signed-in name, and the registry's own rules (the two-person rule among them) decide
//! it, exactly as for `mlinfra models`.
//!
//! Every state-changing request is a form `POST` that must carry the session's CSRF token (and,
//! when the browser sends `Origin`, come from the console's own origin). Sessions live in
//! memory, in `HttpOnly; Secure; SameSite=Strict` cookies; five wrong passwords in a row lock a
//! name for 15 minutes.

pub mod form;
pub mod page;
pub mod session;

mod data;
mod models;
mod monitoring;
mod runs;
mod try_it;

use std::sync::Arc;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use mlinfra_core::any::AnyLake;
use mlinfra_core::any::AnyStore;
use mlinfra_core::registry::Registry;

use crate::accounts::Accounts;
use crate::serve::Gateway;
use crate::stack::Stack;
use form::Form;
use page::Page;
use session::{Session, Sessions, Throttle};

/// Form bodies larger than this are refused (an upload for Try it is a small batch).
pub const MAX_FORM: usize = 2 * 1024 * 1024;

pub struct Console {
    pub stack: Stack,
    pub lake: AnyLake,
    pub registry: Registry<AnyStore>,
    pub accounts: Accounts,
    /// Predictions for Try it go through the same service as the API's `POST /predict`.
    pub gateway: Arc<Gateway>,
    pub sessions: Sessions,
    pub throttle: Throttle,
}

/// A request as the views read it.
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: Form,
    pub content_type: String,
    pub body: Bytes,
    cookie: Option<String>,
    origin: Option<String>,
    host: Option<String>,
}

impl Req {
    /// The urlencoded form of a `POST`.
    pub fn form(&self) -> Form {
        if self
            .content_type
            .starts_with("application/x-www-form-urlencoded")
        {
            Form::parse(&String::from_utf8_lossy(&self.body))
        } else {
            Form::default()
        }
    }

    /// The CSRF token the request carries (a form field, or a multipart part).
    fn csrf(&self) -> Option<String> {
        if let Some(b) = form::boundary(&self.content_type) {
            let parts = form::multipart(&self.body, &b).ok()?;
            return parts
                .iter()
                .find(|p| p.name == "csrf")
                .map(|p| String::from_utf8_lossy(p.body).into_owned());
        }
        self.form().get("csrf").map(str::to_string)
    }

    /// A browser's `Origin` that is not this server's: a cross-site form post.
    fn cross_site(&self) -> bool {
        let (Some(origin), Some(host)) = (&self.origin, &self.host) else {
            return false;
        };
        let origin_host = origin.split_once("://").map_or(origin.as_str(), |(_, h)| h);
        origin_host != host
    }
}

/// The style of the report fragments the pages show (statistics, schema, drift).
fn styles() -> String {
    [
        crate::report::html::STYLE,
        mlinfra_core::monitor::html::STYLE,
    ]
    .concat()
}

/// What the console answers.
enum Answer {
    Html(Page),
    Redirect(String),
}

impl Console {
    pub fn new(
        stack: &Stack,
        lake: AnyLake,
        registry: Registry<AnyStore>,
        accounts: Accounts,
        gateway: Arc<Gateway>,
    ) -> Console {
        Console {
            stack: stack.clone(),
            lake,
            registry,
            accounts,
            gateway,
            sessions: Sessions::default(),
            throttle: Throttle::default(),
        }
    }

    /// Whether `path` is the console's.
    pub fn owns(path: &str) -> bool {
        path == "/ui" || path.starts_with("/ui/")
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut r = Req {
            method: req.method().as_str().to_string(),
            path: req.uri().path().trim_end_matches('/').to_string(),
            query: Form::parse(req.uri().query().unwrap_or("")),
            content_type: header("content-type").unwrap_or_default(),
            body: Bytes::new(),
            cookie: header("cookie"),
            origin: header("origin"),
            host: header("host"),
        };
        match Limited::new(req.into_body(), MAX_FORM).collect().await {
            Ok(b) => r.body = b.to_bytes(),
            Err(_) => {
                return self.render(
                    &r,
                    None,
                    Answer::Html(Page::error(
                        413,
                        "Too large",
                        &format!(
                            "the upload exceeds {} MB: Try it takes a small batch; `mlinfra predict` takes any size",
                            MAX_FORM / 1024 / 1024
                        ),
                    )),
                    vec![],
                );
            }
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/ui") => {
                return self.render(&r, None, Answer::Redirect("/ui/runs".into()), vec![]);
            }
            ("GET", "/ui/signin") => return self.signin_form(&r, None, 200),
            ("POST", "/ui/signin") => return self.signin(&r).await,
            _ => {}
        }
        let token = session::cookie(r.cookie.as_deref(), session::COOKIE).map(str::to_string);
        let Some(s) = token.as_deref().and_then(|t| self.sessions.get(t)) else {
            if r.method == "GET" {
                let next = format!(
                    "/ui/signin?next={}",
                    mlinfra_core::urlencoding::encode(&r.path)
                );
                return self.render(&r, None, Answer::Redirect(next), vec![]);
            }
            return self.render(
                &r,
                None,
                Answer::Html(Page::error(
                    401,
                    "Signed out",
                    "your session has ended or is not valid, so nothing was changed\nsign in again, then repeat the action",
                )),
                vec![],
            );
        };
        if r.method == "POST" {
            let valid = r.csrf().is_some_and(|t| session::same(&t, &s.csrf));
            if !valid || r.cross_site() {
                return self.render(
                    &r,
                    Some(&s),
                    Answer::Html(Page::error(
                        403,
                        "Refused",
                        "the form did not come from this console (its CSRF token is missing or wrong), so nothing was changed\nreload the page and submit the form again",
                    )),
                    vec![],
                );
            }
        }
        if (r.method.as_str(), r.path.as_str()) == ("POST", "/ui/signout") {
            if let Some(t) = &token {
                self.sessions.end(t);
            }
            return self.render(
                &r,
                None,
                Answer::Redirect("/ui/signin".into()),
                vec![session::set_cookie(
                    session::COOKIE,
                    "",
                    std::time::Duration::ZERO,
                )],
            );
        }
        let answer = self.view(&r, &s).await;
        self.render(&r, Some(&s), answer, vec![])
    }

    /// `GET path_and_query` as `account` without the HTTP layer (no cookie, no body): the status
    /// and the whole page. What the benchmarks time.
    pub async fn get_as(&self, account: &str, path_and_query: &str) -> (u16, String) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let r = Req {
            method: "GET".into(),
            path: path.trim_end_matches('/').to_string(),
            query: Form::parse(query),
            content_type: String::new(),
            body: Bytes::new(),
            cookie: None,
            origin: None,
            host: None,
        };
        let s = Session::detached(account);
        match self.view(&r, &s).await {
            Answer::Html(p) => (p.status, page::document(&p, &r.path, Some(&s), &styles())),
            Answer::Redirect(to) => (303, to),
        }
    }

    async fn view(&self, r: &Req, s: &Session) -> Answer {
        let path = r.path.as_str();
        let page = match (r.method.as_str(), path) {
            ("GET", "/ui/runs") => runs::list(self).await,
            ("GET", "/ui/runs/compare") => runs::compare(self, &r.query.all("run")).await,
            ("GET", p) if p.starts_with("/ui/runs/") => {
                runs::show(self, &p["/ui/runs/".len()..]).await
            }
            ("GET", "/ui/models") => models::page(self, s, None).await,
            ("POST", "/ui/models/request")
            | ("POST", "/ui/models/approve")
            | ("POST", "/ui/models/reject")
            | ("POST", "/ui/models/rollback") => {
                models::act(self, s, &path["/ui/models/".len()..], &r.form()).await
            }
            ("GET", "/ui/data") => data::page(self).await,
            ("GET", "/ui/monitoring") => monitoring::page(self).await,
            ("GET", "/ui/try") => try_it::form(self, s, &r.query).await,
            ("POST", "/ui/try") => try_it::predict(self, s, &r.form()).await,
            ("POST", "/ui/try/upload") => try_it::upload(self, s, r).await,
            (m, p) => Page::error(
                if m == "GET" { 404 } else { 405 },
                "Not found",
                &format!(
                    "no page `{m} {p}`: the console's pages are /ui/runs, /ui/models, /ui/data, /ui/monitoring and /ui/try"
                ),
            ),
        };
        Answer::Html(page)
    }

    fn render(
        &self,
        r: &Req,
        who: Option<&Session>,
        answer: Answer,
        cookies: Vec<String>,
    ) -> Response<Full<Bytes>> {
        let mut b = Response::builder()
            .header("cache-control", "no-store")
            .header("x-content-type-options", "nosniff")
            .header("x-frame-options", "DENY")
            .header("referrer-policy", "same-origin")
            .header(
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            );
        for c in cookies {
            b = b.header("set-cookie", c);
        }
        let (status, body) = match answer {
            Answer::Redirect(to) => {
                b = b.header("location", to);
                (303, String::new())
            }
            Answer::Html(page) => {
                b = b.header("content-type", "text/html; charset=utf-8");
                (page.status, page::document(&page, &r.path, who, &styles()))
            }
        };
        b.status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"console error"))))
    }

    /// The sign-in form, with a fresh token in its own cookie (double submit: a cross-site page
    /// can post the form but cannot read or set the cookie).
    fn signin_form(&self, r: &Req, message: Option<&str>, status: u16) -> Response<Full<Bytes>> {
        let token = match session::token() {
            Ok(t) => t,
            Err(e) => {
                return self.render(
                    r,
                    None,
                    Answer::Html(Page::error(500, "Sign in", &e)),
                    vec![],
                );
            }
        };
        let posted = r.form();
        let next = r
            .query
            .get("next")
            .or(posted.get("next"))
            .unwrap_or("")
            .to_string();
        let mut body = message.map(|m| page::flash(false, m)).unwrap_or_default();
        body.push_str(&format!(
            "<form method=\"post\" action=\"/ui/signin\" id=\"signin\">{}<input type=\"hidden\" name=\"next\" value=\"{}\">\
             <p><label for=\"name\">Name</label><input id=\"name\" name=\"name\" autocomplete=\"username\" required></p>\
             <p><label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
             <p><button id=\"signin-button\">Sign in</button></p></form>\
             <p><small>Accounts are made with <code>mlinfra users add NAME</code> on the machine that runs <code>mlinfra serve</code>.</small></p>",
            page::csrf_field(&token),
            page::esc(&next)
        ));
        let mut p = Page::ok("Sign in", body);
        p.status = status;
        self.render(
            r,
            None,
            Answer::Html(p),
            vec![session::set_cookie(
                session::SIGNIN_COOKIE,
                &token,
                std::time::Duration::from_secs(3600),
            )],
        )
    }

    async fn signin(&self, r: &Req) -> Response<Full<Bytes>> {
        let f = r.form();
        let cookie = session::cookie(r.cookie.as_deref(), session::SIGNIN_COOKIE);
        let csrf_ok = matches!((cookie, f.get("csrf")), (Some(c), Some(t)) if session::same(c, t));
        if !csrf_ok || r.cross_site() {
            return self.signin_form(
                r,
                Some("the sign-in form did not come from this console (its CSRF token is missing or wrong): sign in again"),
                403,
            );
        }
        let name = f.get("name").unwrap_or("").trim().to_string();
        let password = f.get("password").unwrap_or("").to_string();
        if let Some(left) = self.throttle.locked(&name) {
            return self.signin_form(
                r,
                Some(&format!(
                    "too many wrong passwords for `{name}`: signing in as `{name}` is locked for {} more minutes",
                    left.as_secs().div_ceil(60)
                )),
                429,
            );
        }
        let accounts = self.accounts.clone();
        let (n, pw) = (name.clone(), password);
        let verified = tokio::task::spawn_blocking(move || accounts.verify(&n, &pw))
            .await
            .unwrap_or_else(|e| Err(format!("the password check failed: {e}")));
        match verified {
            Ok(true) => {
                self.throttle.succeeded(&name);
                let token = match self.sessions.start(&name) {
                    Ok(t) => t,
                    Err(e) => {
                        return self.render(
                            r,
                            None,
                            Answer::Html(Page::error(500, "Sign in", &e)),
                            vec![],
                        );
                    }
                };
                let next = f
                    .get("next")
                    .filter(|n| n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\'))
                    .unwrap_or("/ui/runs");
                self.render(
                    r,
                    None,
                    Answer::Redirect(next.to_string()),
                    vec![
                        session::set_cookie(session::COOKIE, &token, session::ABSOLUTE),
                        session::set_cookie(session::SIGNIN_COOKIE, "", std::time::Duration::ZERO),
                    ],
                )
            }
            Ok(false) => {
                self.throttle.failed(&name);
                self.signin_form(r, Some("wrong name or password"), 401)
            }
            Err(e) => self.signin_form(r, Some(&e), 500),
        }
    }
}
