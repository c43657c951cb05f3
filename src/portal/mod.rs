//! The login portal: login and logout pages, the app launcher, forward-auth, SSO hand-off.

pub mod csrf;
pub mod http;
pub mod pages;
pub mod return_url;
pub mod service;
pub mod text;
