//! What a handler needs, stated in its signature: the signed-in person (`Signed`, `MaybeSigned`),
//! the campaign its address names (`Viewing`, and `Owning` for a Fabric administrator), and a
//! form whose CSRF token is the session's (`Posted`). Each rejection is the page that says why.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use pbi_server::review::Campaign;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::auth::{session_of, Me};
use super::{failure, problem, Shared};

/// The signed-in person, or a redirect to the sign-in page.
pub struct Signed(pub Me);

/// The signed-in person, if anyone is.
pub struct MaybeSigned(pub Option<Me>);

/// The campaign named by the address's `{id}`, for the signed-in person.
pub struct Viewing {
    pub me: Me,
    pub c: Campaign,
}

/// The campaign named by the address, for a Fabric administrator (who closes and applies it).
pub struct Owning {
    pub me: Me,
    pub c: Campaign,
}

/// A form posted by the signed-in person, its CSRF token checked against their session.
pub struct Posted<F>(pub F);

/// A form that carries the session's CSRF token.
pub trait CsrfForm {
    fn csrf(&self) -> &str;
}

/// A form read as its name/value pairs (repeated names kept).
impl CsrfForm for Vec<(String, String)> {
    fn csrf(&self) -> &str {
        self.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

async fn me_of(app: &Shared, headers: &HeaderMap) -> Result<Option<Me>, Response> {
    session_of(app, headers).await.map_err(|e| failure(None, e))
}

impl FromRequestParts<Shared> for MaybeSigned {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Response> {
        me_of(app, &parts.headers).await.map(MaybeSigned)
    }
}

impl FromRequestParts<Shared> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Response> {
        match me_of(app, &parts.headers).await? {
            Some(me) => Ok(Signed(me)),
            None => Err(Redirect::to("/review/").into_response()),
        }
    }
}

async fn campaign_of(parts: &mut Parts, app: &Shared, me: &Me) -> Result<Campaign, Response> {
    let missing = || problem(StatusCode::NOT_FOUND, Some(me.clone()), "No such campaign", "There is no campaign at this address.");
    let Ok(Path(id)) = Path::<String>::from_request_parts(parts, app).await else { return Err(missing()) };
    let Ok(id) = id.parse::<Uuid>() else { return Err(missing()) };
    match app.store.review_campaign(id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(missing()),
        Err(e) => Err(failure(Some(me.clone()), e)),
    }
}

impl FromRequestParts<Shared> for Viewing {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Response> {
        let Signed(me) = Signed::from_request_parts(parts, app).await?;
        let c = campaign_of(parts, app, &me).await?;
        Ok(Viewing { me, c })
    }
}

/// The page a person who is no Fabric administrator meets on an owner's action.
pub fn not_admin(me: Me) -> Response {
    problem(
        StatusCode::FORBIDDEN,
        Some(me),
        "Fabric administrators only",
        "Only a Fabric administrator creates, closes and applies campaigns.",
    )
}

impl FromRequestParts<Shared> for Owning {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Response> {
        let Signed(me) = Signed::from_request_parts(parts, app).await?;
        if !me.admin {
            return Err(not_admin(me));
        }
        let c = campaign_of(parts, app, &me).await?;
        Ok(Owning { me, c })
    }
}

impl<F> FromRequest<Shared> for Posted<F>
where
    F: CsrfForm + DeserializeOwned + Send,
{
    type Rejection = Response;
    async fn from_request(req: Request, app: &Shared) -> Result<Self, Response> {
        let me = me_of(app, req.headers()).await?;
        let Some(me) = me else { return Err(Redirect::to("/review/").into_response()) };
        let Form(form) = Form::<F>::from_request(req, app).await.map_err(|e| {
            problem(
                StatusCode::BAD_REQUEST,
                Some(me.clone()),
                "This form cannot be read",
                &format!("The form is not as this page sends it: {e}"),
            )
        })?;
        let csrf = form.csrf();
        if csrf.is_empty() || csrf != me.csrf {
            return Err(problem(
                StatusCode::FORBIDDEN,
                Some(me),
                "This form cannot be accepted",
                "The form's security token does not match your session (it came from another site, or from a page older than your \
                 sign-in). Nothing was changed. Go back, reload the page and submit again.",
            ));
        }
        Ok(Posted(form))
    }
}
