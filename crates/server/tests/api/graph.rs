//! Microsoft Graph over HTTP, on both backends.
