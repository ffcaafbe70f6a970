//! `GET|POST /{tenant}/oauth2/v2.0/authorize`: the authorization code flow's front channel.
//!
//! GET checks the request and shows the sign-in page; the page posts back to the same URL with
//! the request's parameters, a CSRF token (double submit: a cookie and a field that must match)
//! and the person's credentials. A failed sign-in shows the page again with Entra's AADSTS
//! message; a good one redirects to the registered `redirect_uri` with `code` and `state`.
//!
//! As Entra does, a request whose client or redirect URI cannot be trusted never redirects: it
//! gets an error page. Any later error goes back to the application as `error`,
//! `error_description` and `state` on the redirect URI.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use uuid::Uuid;

use super::token::{authenticate_user, granted_scopes, v1_user_scope};
use super::{OAuthError, Segment};
use crate::app::AppState;
use crate::domain::signin::{code_hash, new_code, valid_challenge, AppRegistration, ClientType, CODE_LIFETIME_SECS};
use crate::domain::Tenant;
use crate::store::AuthCode;

/// The CSRF cookie of the sign-in forms.
pub(super) const CSRF_COOKIE: &str = "pbi_signin_csrf";

/// How the code goes back to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

impl ResponseMode {
    fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// An authorization request whose client and redirect URI are trusted.
struct AuthorizeRequest {
    tenant: Tenant,
    path_tenant: String,
    client_id: Uuid,
    app_name: String,
    app: AppRegistration,
    redirect_uri: String,
    response_mode: ResponseMode,
    state: Option<String>,
    /// The v1 endpoint's `resource`, when the request came there (`None`: the v2.0 endpoint).
    resource: Option<String>,
}

/// A request that passed every check: what the sign-in page carries and the code is bound to.
struct Checked {
    request: AuthorizeRequest,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    prompt: Option<String>,
    login_hint: Option<String>,
}

/// Why a request is refused: before the redirect URI is trusted (a page) or after (a redirect).
enum Refused {
    Page(StatusCode, OAuthError),
    Redirect(Box<AuthorizeRequest>, OAuthError),
}

impl From<crate::store::StoreError> for Refused {
    fn from(e: crate::store::StoreError) -> Self {
        Refused::Page(StatusCode::INTERNAL_SERVER_ERROR, OAuthError::from(e))
    }
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn page_error(code: u32, message: impl Into<String>) -> Refused {
    Refused::Page(StatusCode::BAD_REQUEST, OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", code, message))
}

fn invalid_request(code: u32, message: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", code, message)
}

/// Which endpoint a request came to: v2.0 names scopes; v1 names a `resource` and does not
/// require PKCE of public clients (ADAL never sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    V2,
    V1,
}

/// Check an authorization request, in Entra's order: tenant, client, redirect URI (these three
/// answer with a page), then response type, scope (v1: resource), PKCE and prompt (these redirect).
async fn check(state: &AppState, path_tenant: &str, params: &HashMap<String, String>, endpoint: Endpoint) -> Result<Checked, Refused> {
    if params.values().any(|v| v.contains('\0') || v.len() > 8192) {
        return Err(page_error(90014, "A request parameter contains a NUL character or is too long."));
    }
    let tenant = state
        .store
        .find_tenant(path_tenant)
        .await?
        .ok_or_else(|| Refused::Page(StatusCode::BAD_REQUEST, OAuthError::unknown_tenant(path_tenant)))?;
    let client_id = param(params, "client_id")
        .ok_or_else(|| page_error(900144, "The request body must contain the following parameter: 'client_id'."))?;
    let unknown = || {
        page_error(
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", tenant.name),
        )
    };
    let app_id = Uuid::parse_str(client_id).map_err(|_| unknown())?;
    let (sp, app) = state.store.app_registration(tenant.id, app_id).await?.ok_or_else(unknown)?;
    let redirect_uri = param(params, "redirect_uri")
        .ok_or_else(|| page_error(900144, "The request body must contain the following parameter: 'redirect_uri'."))?;
    if app.redirect_uris.is_empty() {
        return Err(page_error(500113, "No reply address is registered for the application."));
    }
    if !app.allows_redirect(redirect_uri) {
        return Err(page_error(
            50011,
            format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{app_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal."),
        ));
    }
    let response_mode = match param(params, "response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(page_error(900144, format!("The response_mode '{other}' is not supported: query, fragment or form_post.")))
        }
    };
    let request = AuthorizeRequest {
        tenant,
        path_tenant: path_tenant.to_string(),
        client_id: app_id,
        app_name: sp.display_name,
        app,
        redirect_uri: redirect_uri.to_string(),
        response_mode,
        state: param(params, "state").map(str::to_string),
        resource: None,
    };
    let mut request = request;
    let v1_params;
    let params = match endpoint {
        Endpoint::V2 => params,
        Endpoint::V1 => {
            let scope = param(params, "resource")
                .ok_or_else(|| OAuthError::missing("resource"))
                .and_then(|r| v1_user_scope(r, &request.tenant).map(|scope| (r.to_string(), scope)));
            match scope {
                Ok((resource, scope)) => {
                    request.resource = Some(resource);
                    let mut translated = params.clone();
                    translated.insert("scope".into(), scope);
                    v1_params = translated;
                    &v1_params
                }
                Err(e) => return Err(Refused::Redirect(Box::new(request), e)),
            }
        }
    };
    match check_rest(&request, params) {
        Ok((scope, code_challenge)) => Ok(Checked {
            scope,
            nonce: param(params, "nonce").map(str::to_string),
            code_challenge,
            prompt: param(params, "prompt").map(str::to_string),
            login_hint: param(params, "login_hint").map(str::to_string),
            request,
        }),
        Err(e) => Err(Refused::Redirect(Box::new(request), e)),
    }
}

/// The checks whose failures go back to the application: the scope and PKCE.
fn check_rest(request: &AuthorizeRequest, params: &HashMap<String, String>) -> Result<(String, Option<String>), OAuthError> {
    match param(params, "response_type") {
        Some("code") => {}
        None => return Err(invalid_request(900144, "The request body must contain the following parameter: 'response_type'.")),
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_response_type",
                700054,
                format!("response_type '{other}' is not enabled for the application: pbi-access issues authorization codes ('code')."),
            ))
        }
    }
    let scope =
        param(params, "scope").ok_or_else(|| invalid_request(900144, "The request body must contain the following parameter: 'scope'."))?;
    let (_, scopes, access_scopes) = granted_scopes(scope)?;
    // Named delegated permissions the application was not consented to need a consent
    // pbi-access cannot give interactively (`.default` asks for the consented ones).
    if !scope.contains("/.default") {
        if let Some(s) = access_scopes.as_ref().unwrap_or(&scopes).iter().find(|s| !request.app.permits(s)) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "consent_required",
                65001,
                format!("The user or administrator has not consented to use the application with ID '{}' named '{}' for '{s}'. Send an interactive authorization request for this user and resource.", request.client_id, request.app_name),
            ));
        }
    }
    let challenge = param(params, "code_challenge");
    match (challenge, param(params, "code_challenge_method")) {
        (None, Some(_)) => return Err(invalid_request(900144, "The request body must contain the following parameter: 'code_challenge'.")),
        (Some(_), Some("S256")) => {}
        (Some(_), method) => {
            return Err(invalid_request(
                5000751,
                format!("The code_challenge_method '{}' is not supported: pbi-access requires S256.", method.unwrap_or("plain")),
            ))
        }
        (None, None) if request.app.client_type == ClientType::Public && request.resource.is_none() => {
            return Err(invalid_request(
                9002325,
                "Proof Key for Code Exchange is required for public clients: send code_challenge with code_challenge_method S256.",
            ))
        }
        (None, None) => {}
    }
    if let Some(c) = challenge {
        if !valid_challenge(c) {
            return Err(invalid_request(5000752, "The code_challenge is not a base64url SHA-256 value (43 characters)."));
        }
    }
    match param(params, "prompt") {
        None | Some("login" | "select_account" | "consent") => {}
        // No single sign-on session outlives a sign-in page here, so no sign-in can be silent.
        Some("none") => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            ))
        }
        Some(other) => return Err(invalid_request(90023, format!("Unsupported prompt value '{other}'."))),
    }
    Ok((scope.to_string(), challenge.map(str::to_string)))
}

#[derive(Template)]
#[template(path = "oauth/signin.html")]
struct SignInPage<'a> {
    tenant_name: &'a str,
    app_name: &'a str,
    action: String,
    csrf: &'a str,
    hidden: Vec<(&'static str, String)>,
    username: &'a str,
    error: Option<PageError>,
}

struct PageError {
    code: u32,
    message: String,
}

#[derive(Template)]
#[template(path = "oauth/error.html")]
struct ErrorPage<'a> {
    code: u32,
    message: &'a str,
    request_id: String,
    timestamp: String,
}

#[derive(Template)]
#[template(path = "oauth/form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    fields: Vec<(&'static str, String)>,
}

/// The headers every page of the sign-in flows carries: no caching, no framing, no referrer,
/// and no script except where a page needs it. `form-action` admits http(s) targets besides this
/// origin: browsers apply it to the redirect that follows a submitted sign-in form, and that
/// redirect goes to the application's (validated) redirect URI on another origin.
pub(super) fn page(status: StatusCode, html: String, script: bool) -> Response {
    let csp = if script {
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'"
    } else {
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'"
    };
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    response
}

pub(super) fn error_page(state: &AppState, status: StatusCode, e: &OAuthError) -> Response {
    let html = ErrorPage {
        code: e.code.unwrap_or(0),
        message: &e.description,
        request_id: Uuid::new_v4().to_string(),
        timestamp: state.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
    .render()
    .unwrap_or_else(|_| "Sign-in failed.".into());
    let status = if e.status.is_server_error() { e.status } else { status };
    page(status, html, false)
}

/// The CSRF token of this browser: the cookie's, or a new one (then set by the response).
pub(super) fn csrf_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE).filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
        Some(c) => (c, false),
        None => (new_code(), true),
    }
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub(super) fn set_csrf_cookie(state: &AppState, response: &mut Response, token: &str) {
    let secure = if state.public_url.starts_with("https://") { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether the form's CSRF field matches this browser's cookie (constant time).
pub(super) fn csrf_ok(headers: &HeaderMap, field: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), field) {
        (Some(c), Some(f)) => c.len() == f.len() && c.bytes().zip(f.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0,
        _ => false,
    }
}

/// Send the person back to the application with these parameters.
fn deliver(request: &AuthorizeRequest, mut fields: Vec<(&'static str, String)>) -> Response {
    if let Some(s) = &request.state {
        fields.push(("state", s.clone()));
    }
    let encoded = || {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            out.append_pair(k, v);
        }
        out.finish()
    };
    let target = match request.response_mode {
        ResponseMode::FormPost => {
            let html = FormPostPage { action: &request.redirect_uri, fields: fields.clone() }.render().unwrap_or_default();
            return page(StatusCode::OK, html, true);
        }
        ResponseMode::Query => match url::Url::parse(&request.redirect_uri) {
            Ok(mut url) => {
                {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in &fields {
                        q.append_pair(k, v);
                    }
                }
                url.to_string()
            }
            Err(_) => format!("{}?{}", request.redirect_uri, encoded()),
        },
        ResponseMode::Fragment => format!("{}#{}", request.redirect_uri, encoded()),
    };
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn redirect_error(state: &AppState, request: &AuthorizeRequest, e: &OAuthError) -> Response {
    let e = e.clone().stamped(&*state.clock);
    let description = format!(
        "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
        e.code.unwrap_or(0),
        e.description,
        Uuid::new_v4(),
        Uuid::new_v4(),
        e.timestamp
    );
    let mut fields = vec![("error", e.error.to_string()), ("error_description", description)];
    if let Some(code) = e.code {
        fields.push(("error_codes", format!("[{code}]")));
    }
    deliver(request, fields)
}

fn refused(state: &AppState, r: Refused) -> Response {
    match r {
        Refused::Page(status, e) => error_page(state, status, &e),
        Refused::Redirect(request, e) => redirect_error(state, &request, &e),
    }
}

fn sign_in_page(state: &AppState, headers: &HeaderMap, checked: &Checked, username: &str, error: Option<PageError>) -> Response {
    let (csrf, fresh) = csrf_token(headers);
    let r = &checked.request;
    let mut hidden = vec![
        ("client_id", r.client_id.to_string()),
        ("response_type", "code".to_string()),
        ("redirect_uri", r.redirect_uri.clone()),
        ("scope", checked.scope.clone()),
        ("response_mode", r.response_mode.as_str().to_string()),
    ];
    let optional = [
        ("state", r.state.clone()),
        ("nonce", checked.nonce.clone()),
        ("code_challenge", checked.code_challenge.clone()),
        ("code_challenge_method", checked.code_challenge.as_ref().map(|_| "S256".to_string())),
        ("prompt", checked.prompt.clone()),
        ("resource", r.resource.clone()),
    ];
    hidden.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    let version = if r.resource.is_some() { "" } else { "v2.0/" };
    let html = SignInPage {
        tenant_name: &r.tenant.name,
        app_name: &r.app_name,
        action: format!(
            "/{}/oauth2/{version}authorize",
            percent_encoding::utf8_percent_encode(&r.path_tenant, percent_encoding::NON_ALPHANUMERIC)
        ),
        csrf: &csrf,
        hidden,
        username,
        error,
    }
    .render()
    .unwrap_or_default();
    let mut response = page(StatusCode::OK, html, false);
    if fresh {
        set_csrf_cookie(state, &mut response, &csrf);
    }
    response
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: check the request, show the sign-in page.
pub async fn show(
    State(state): State<AppState>,
    Segment(tenant): Segment<1>,
    headers: HeaderMap,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    show_at(state, tenant, headers, params, Endpoint::V2).await
}

/// `GET /{tenant}/oauth2/authorize`: the v1 endpoint's request (`resource=`), same page.
pub async fn show_v1(
    State(state): State<AppState>,
    Segment(tenant): Segment<1>,
    headers: HeaderMap,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    show_at(state, tenant, headers, params, Endpoint::V1).await
}

/// `POST /{tenant}/oauth2/authorize`: the v1 sign-in form.
pub async fn submit_v1(
    State(state): State<AppState>,
    Segment(tenant): Segment<1>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    submit_at(state, tenant, headers, form, Endpoint::V1).await
}

async fn show_at(
    state: AppState,
    tenant: String,
    headers: HeaderMap,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    endpoint: Endpoint,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_page(&state, StatusCode::BAD_REQUEST, &invalid_request(90014, "The request's query string cannot be read."));
    };
    match check(&state, &tenant, &params, endpoint).await {
        Ok(checked) => {
            let hint = checked.login_hint.clone().unwrap_or_default();
            sign_in_page(&state, &headers, &checked, &hint, None)
        }
        Err(r) => refused(&state, r),
    }
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: the sign-in form. The request is checked again (the
/// form carries it), then the CSRF token, then the credentials through the password grant's
/// own check.
pub async fn submit(
    State(state): State<AppState>,
    Segment(tenant): Segment<1>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    submit_at(state, tenant, headers, form, Endpoint::V2).await
}

async fn submit_at(
    state: AppState,
    tenant: String,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
    endpoint: Endpoint,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(&state, StatusCode::BAD_REQUEST, &invalid_request(90014, "The sign-in form cannot be read."));
    };
    let checked = match check(&state, &tenant, &form, endpoint).await {
        Ok(checked) => checked,
        Err(r) => return refused(&state, r),
    };
    if !csrf_ok(&headers, param(&form, "csrf")) {
        return error_page(
            &state,
            StatusCode::FORBIDDEN,
            &invalid_request(
                90014,
                "The sign-in form expired or did not come from this page. Go back to the application and sign in again.",
            ),
        );
    }
    let username = param(&form, "username").unwrap_or("").trim().to_string();
    let password = param(&form, "password").unwrap_or("");
    if username.is_empty() || password.is_empty() {
        let e = PageError { code: 900144, message: "Enter your user name and your password.".into() };
        return sign_in_page(&state, &headers, &checked, &username, Some(e));
    }
    let user = match authenticate_user(&state, &checked.request.tenant, &username, password).await {
        Ok(user) => user,
        Err(e) if e.status.is_server_error() => return error_page(&state, e.status, &e),
        Err(e) => {
            let e = PageError { code: e.code.unwrap_or(0), message: e.description };
            return sign_in_page(&state, &headers, &checked, &username, Some(e));
        }
    };
    let code = new_code();
    let now = state.clock.now_millis();
    let row = AuthCode {
        tenant: checked.request.tenant.id,
        client_id: checked.request.client_id,
        user: user.id,
        redirect_uri: checked.request.redirect_uri.clone(),
        scope: checked.scope.clone(),
        code_challenge: checked.code_challenge.clone(),
        nonce: checked.nonce.clone(),
        family: Uuid::new_v4(),
        created_at: now,
        expires_at: now + CODE_LIFETIME_SECS * 1000,
    };
    if let Err(e) = state.store.insert_auth_code(&code_hash(&code), &row).await {
        return error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, &OAuthError::from(e));
    }
    let mut fields = vec![("code", code)];
    if checked.request.response_mode == ResponseMode::FormPost || checked.request.response_mode == ResponseMode::Query {
        fields.push(("session_state", Uuid::new_v4().to_string()));
    }
    deliver(&checked.request, fields)
}
