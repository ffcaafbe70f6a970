//! The device code flow (RFC 8628): `POST /{tenant}/oauth2/v2.0/devicecode` starts it, the
//! person enters the user code on the verification page `GET|POST /{tenant}/oauth2/deviceauth`
//! and signs in there, and the device polls the token endpoint with
//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (see `token.rs`).

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Form, Json};
use pbi_wire::oauth::{DeviceCodeResponse, V1DeviceCodeResponse};
use uuid::Uuid;

use super::authorize::{csrf_ok, csrf_token, error_page, page, set_csrf_cookie};
use super::token::{authenticate_user, granted_scopes, v1_user_scope};
use super::{OAuthError, Segment};
use crate::app::AppState;
use crate::domain::signin::{
    code_hash, new_code, new_user_code, normalize_user_code, DEVICE_CODE_LIFETIME_SECS, DEVICE_POLL_INTERVAL_SECS,
};
use crate::domain::Tenant;
use crate::store::DeviceCode;

/// The verification page of a tenant, as the device code response names it.
fn verification_uri(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/{}/oauth2/deviceauth", state.public_url, tenant.id)
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`: a device code and a user code for a client.
pub async fn start(
    State(state): State<AppState>,
    Segment(path_tenant): Segment<1>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Json<DeviceCodeResponse>, OAuthError> {
    let answer = async {
        let tenant = state.store.find_tenant(&path_tenant).await?.ok_or_else(|| OAuthError::unknown_tenant(&path_tenant))?;
        begin(&state, &tenant, read_form(form)?).await
    };
    let answer: Result<DeviceCodeResponse, OAuthError> = answer.await;
    answer.map(Json).map_err(|e| e.stamped(&*state.clock))
}

/// `POST /{tenant}/oauth2/devicecode`: the v1 endpoint, as ADAL calls it: a `resource` instead
/// of scopes, and Entra v1's answer (`verification_url`, lifetimes as strings). The device then
/// polls the v1 token endpoint with `grant_type=device_code` and the device code as `code`.
pub async fn start_v1(
    State(state): State<AppState>,
    Segment(path_tenant): Segment<1>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Json<V1DeviceCodeResponse>, OAuthError> {
    let answer = async {
        let tenant = state.store.find_tenant(&path_tenant).await?.ok_or_else(|| OAuthError::unknown_tenant(&path_tenant))?;
        let mut form = read_form(form)?;
        let resource = form.get("resource").filter(|r| !r.trim().is_empty()).ok_or_else(|| OAuthError::missing("resource"))?;
        let scope = v1_user_scope(resource, &tenant)?;
        form.insert("scope".into(), scope);
        let v2 = begin(&state, &tenant, form).await?;
        Ok(V1DeviceCodeResponse {
            user_code: v2.user_code,
            device_code: v2.device_code,
            verification_url: v2.verification_uri,
            expires_in: v2.expires_in.to_string(),
            interval: v2.interval.to_string(),
            message: v2.message,
        })
    };
    let answer: Result<V1DeviceCodeResponse, OAuthError> = answer.await;
    answer.map(Json).map_err(|e| e.stamped(&*state.clock))
}

fn read_form(
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<HashMap<String, String>, OAuthError> {
    form.map(|Form(f)| f).map_err(|_| {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
    })
}

async fn begin(state: &AppState, tenant: &Tenant, form: HashMap<String, String>) -> Result<DeviceCodeResponse, OAuthError> {
    if form.values().any(|v| v.contains('\0') || v.len() > 8192) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90014,
            "A request parameter contains a NUL character or is too long.",
        ));
    }
    let get = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let client_id = get("client_id").ok_or_else(|| OAuthError::missing("client_id"))?;
    let unknown = || {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{}'.", tenant.name),
        )
    };
    let app_id = Uuid::parse_str(client_id).map_err(|_| unknown())?;
    let (_, app) = state.store.app_registration(tenant.id, app_id).await?.ok_or_else(unknown)?;
    let scope = get("scope").ok_or_else(|| OAuthError::missing("scope"))?;
    let (_, scopes, access_scopes) = granted_scopes(scope)?;
    if !scope.contains("/.default") {
        if let Some(s) = access_scopes.as_ref().unwrap_or(&scopes).iter().find(|s| !app.permits(s)) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                65001,
                format!("The user or administrator has not consented to use the application with ID '{app_id}' for '{s}'."),
            ));
        }
    }
    let now = state.clock.now_millis();
    let device_code = new_code();
    // A clash of user codes among the tenant's live ones is a unique violation: draw again.
    for _ in 0..5 {
        let user_code = new_user_code();
        let row = DeviceCode {
            tenant: tenant.id,
            client_id: app_id,
            user_code: user_code.clone(),
            scope: scope.to_string(),
            interval_secs: DEVICE_POLL_INTERVAL_SECS,
            created_at: now,
            expires_at: now + DEVICE_CODE_LIFETIME_SECS * 1000,
            last_polled_at: None,
            user: None,
            redeemed_at: None,
        };
        match state.store.insert_device_code(&code_hash(&device_code), &row).await {
            Ok(()) => {
                let uri = verification_uri(state, tenant);
                return Ok(DeviceCodeResponse {
                    message: format!(
                        "To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."
                    ),
                    device_code,
                    user_code,
                    verification_uri: uri,
                    expires_in: DEVICE_CODE_LIFETIME_SECS as u64,
                    interval: DEVICE_POLL_INTERVAL_SECS as u64,
                });
            }
            Err(e) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", 90033, "No user code is free; try again."))
}

#[derive(Template)]
#[template(path = "oauth/device.html")]
struct DevicePage<'a> {
    tenant_name: &'a str,
    action: String,
    csrf: &'a str,
    user_code: &'a str,
    username: &'a str,
    /// Set once the code is known: the second step, signing in.
    app_name: Option<String>,
    error: Option<String>,
    /// Set when the device is signed in: the application's name.
    done: Option<String>,
}

struct View<'a> {
    user_code: &'a str,
    username: &'a str,
    app_name: Option<String>,
    error: Option<String>,
    done: Option<String>,
}

fn render(state: &AppState, headers: &HeaderMap, tenant: &Tenant, path_tenant: &str, view: View<'_>) -> Response {
    let (csrf, fresh) = csrf_token(headers);
    let html = DevicePage {
        tenant_name: &tenant.name,
        action: format!("/{}/oauth2/deviceauth", percent_encoding::utf8_percent_encode(path_tenant, percent_encoding::NON_ALPHANUMERIC)),
        csrf: &csrf,
        user_code: view.user_code,
        username: view.username,
        app_name: view.app_name,
        error: view.error,
        done: view.done,
    }
    .render()
    .unwrap_or_default();
    let mut response = page(StatusCode::OK, html, false);
    if fresh {
        set_csrf_cookie(state, &mut response, &csrf);
    }
    response
}

/// `GET /{tenant}/oauth2/deviceauth`: the page where a person enters a user code.
pub async fn show(State(state): State<AppState>, Segment(path_tenant): Segment<1>, headers: HeaderMap) -> Response {
    let tenant = match state.store.find_tenant(&path_tenant).await {
        Ok(Some(t)) => t,
        Ok(None) => return error_page(&state, StatusCode::BAD_REQUEST, &OAuthError::unknown_tenant(&path_tenant)),
        Err(e) => return error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, &e.into()),
    };
    render(&state, &headers, &tenant, &path_tenant, View { user_code: "", username: "", app_name: None, error: None, done: None })
}

/// `POST /{tenant}/oauth2/deviceauth`: a user code (step one), then the code with the
/// person's credentials (step two), which approves the device's authorization.
pub async fn submit(
    State(state): State<AppState>,
    Segment(path_tenant): Segment<1>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let bad = |m: &str| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", 90014, m);
    let Ok(Form(form)) = form else { return error_page(&state, StatusCode::BAD_REQUEST, &bad("The form cannot be read.")) };
    let tenant = match state.store.find_tenant(&path_tenant).await {
        Ok(Some(t)) => t,
        Ok(None) => return error_page(&state, StatusCode::BAD_REQUEST, &OAuthError::unknown_tenant(&path_tenant)),
        Err(e) => return error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, &e.into()),
    };
    let get = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if !csrf_ok(&headers, Some(get("csrf"))) {
        return error_page(
            &state,
            StatusCode::FORBIDDEN,
            &bad("The form expired or did not come from this page. Open the page again and enter the code."),
        );
    }
    let typed = get("user_code").chars().take(64).collect::<String>();
    let retry = |error: &str| View { user_code: &typed, username: "", app_name: None, error: Some(error.to_string()), done: None };
    let Some(user_code) = normalize_user_code(&typed) else {
        return render(&state, &headers, &tenant, &path_tenant, retry("That code didn't work. Check the code and try again."));
    };
    let now = state.clock.now_millis();
    let code = match state.store.device_code_by_user_code(tenant.id, &user_code).await {
        Ok(Some(c)) if c.expires_at > now && c.user.is_none() => c,
        Ok(Some(c)) if c.user.is_none() => {
            return render(
                &state,
                &headers,
                &tenant,
                &path_tenant,
                retry("That code has expired. Start again on your device to get a new code."),
            )
        }
        Ok(_) => return render(&state, &headers, &tenant, &path_tenant, retry("That code didn't work. Check the code and try again.")),
        Err(e) => return error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, &e.into()),
    };
    let app_name = match state.store.app_registration(tenant.id, code.client_id).await {
        Ok(Some((sp, _))) => sp.display_name,
        Ok(None) => return render(&state, &headers, &tenant, &path_tenant, retry("That code didn't work. Check the code and try again.")),
        Err(e) => return error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, &e.into()),
    };
    let username = get("username").trim().to_string();
    let password = get("password");
    let step_two =
        |error: Option<String>| View { user_code: &user_code, username: &username, app_name: Some(app_name.clone()), error, done: None };
    if !form.contains_key("username") {
        return render(&state, &headers, &tenant, &path_tenant, step_two(None));
    }
    if username.is_empty() || password.is_empty() {
        return render(
            &state,
            &headers,
            &tenant,
            &path_tenant,
            step_two(Some("AADSTS900144: Enter your user name and your password.".into())),
        );
    }
    let user = match authenticate_user(&state, &tenant, &username, password).await {
        Ok(user) => user,
        Err(e) if e.status.is_server_error() => return error_page(&state, e.status, &e),
        Err(e) => {
            let message = format!("AADSTS{}: {}", e.code.unwrap_or(0), e.description);
            return render(&state, &headers, &tenant, &path_tenant, step_two(Some(message)));
        }
    };
    match state.store.approve_device_code(tenant.id, &user_code, user.id, state.clock.now_millis()).await {
        Ok(true) => render(
            &state,
            &headers,
            &tenant,
            &path_tenant,
            View { user_code: "", username: "", app_name: None, error: None, done: Some(app_name.clone()) },
        ),
        Ok(false) => {
            render(&state, &headers, &tenant, &path_tenant, retry("That code has expired or was used already. Start again on your device."))
        }
        Err(e) => error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, &e.into()),
    }
}
