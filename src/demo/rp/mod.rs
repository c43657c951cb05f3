//! "Cổng dịch vụ công (mẫu)": a demo relying party that delegates login to the gateway by
//! OpenID Connect, so a newcomer sees a whole redirect login — authorization code with
//! PKCE, the consent page, ID token checks, userinfo, RP-initiated logout, and the gateway's
//! back-channel logout ending the app's session when the user logs out anywhere else.
//!
//! | path | what it does |
//! |---|---|
//! | `GET /` | signed in: the user's claims; otherwise a "sign in" button |
//! | `GET /login` | redirects to the provider's authorization endpoint |
//! | `GET /callback` | redeems the code, checks the ID token, reads userinfo |
//! | `GET /logout` | ends the local session, then RP-initiated logout at the provider |
//! | `POST /backchannel-logout` | the provider's logout token ends the sessions it names |
//! | `GET /api/session` | the session as JSON (tests, scripts) |

mod flow;
mod memory;
mod page;
mod provider;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{bind_loopback, serve_connections, Background};

/// How the demo app is registered at the provider.
#[derive(Debug, Clone)]
pub struct RpSettings {
    /// The provider's issuer URL, exactly as its discovery document states it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The demo relying party on a loopback port, served by its own thread; dropping it stops
/// it and frees the port.
pub struct DemoRp {
    pub addr: SocketAddr,
    _server: Background,
}

impl DemoRp {
    /// Binds `127.0.0.1:0` and starts serving. The provider is contacted only when a user
    /// signs in, so the gateway may start afterwards.
    pub fn start(settings: RpSettings) -> io::Result<DemoRp> {
        let listener = bind_loopback()?;
        let addr = listener.local_addr()?;
        let app = Arc::new(flow::RelyingParty::new(settings, base_url(addr)));
        let server = Background::spawn("govgate-demo-rp", move || async move {
            match TcpListener::from_std(listener) {
                Ok(listener) => {
                    serve_connections(listener, "demo-rp", move |req| {
                        flow::handle(app.clone(), req)
                    })
                    .await
                }
                Err(error) => tracing::error!(%error, "demo relying party has no listener"),
            }
        })?;
        Ok(DemoRp {
            addr,
            _server: server,
        })
    }

    /// The app's home page, also its post-logout redirect URI.
    pub fn url(&self) -> String {
        format!("{}/", base_url(self.addr))
    }

    /// The redirect URI to register for it.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}", base_url(self.addr), flow::CALLBACK_PATH)
    }

    /// The back-channel logout URI to register for it.
    pub fn backchannel_logout_uri(&self) -> String {
        format!("{}{}", base_url(self.addr), flow::BACKCHANNEL_PATH)
    }
}

fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
