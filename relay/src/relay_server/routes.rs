//! The HTTP routes: `GET /relay` (WebSocket), `/healthz`, `/metrics`, static files.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::limits::Refused;
use super::{socket, Ctx};

/// Largest WebSocket message: one Protomux frame of a 64 KiB `data` plus headers.
const MAX_WS_MESSAGE: usize = 128 * 1024;

fn refused(ctx: &Ctx, reason: &'static str, status: StatusCode, ip: IpAddr) -> Box<dyn Reply> {
    ctx.metrics.refuse(reason);
    tracing::info!(reason, status = status.as_u16(), %ip, "upgrade refused");
    Box::new(warp::reply::with_status(reason, status))
}

fn upgrade(
    ws: warp::ws::Ws,
    (origin, forwarded_for): (Option<String>, Option<String>),
    remote: Option<SocketAddr>,
    ctx: Arc<Ctx>,
) -> Box<dyn Reply> {
    let peer = remote.map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip().to_canonical());
    let ip = ctx.args.client_ip(peer, forwarded_for.as_deref());
    if *ctx.draining.borrow() {
        return refused(&ctx, "draining", StatusCode::SERVICE_UNAVAILABLE, ip);
    }
    if !ctx.args.origin_allowed(origin.as_deref()) {
        return refused(&ctx, "origin", StatusCode::FORBIDDEN, ip);
    }
    // Sessions are counted until they end (grace period included); the socket is pending
    // until `hello` makes it a session (or resumes one, which takes no new slot).
    let pending = match ctx.per_ip.admit(ip) {
        Ok(p) => p,
        Err(r @ Refused::Sessions) => return refused(&ctx, r.reason(), StatusCode::SERVICE_UNAVAILABLE, ip),
        Err(r @ Refused::PerIp) => return refused(&ctx, r.reason(), StatusCode::TOO_MANY_REQUESTS, ip),
    };
    let ws = ws.max_message_size(MAX_WS_MESSAGE).max_frame_size(MAX_WS_MESSAGE);
    Box::new(ws.on_upgrade(move |socket| socket::run(socket, ctx, pending)))
}

/// Every route of the relay.
pub fn routes(ctx: Arc<Ctx>) -> impl Filter<Extract = (Box<dyn Reply>,), Error = Rejection> + Clone {
    let with_ctx = {
        let ctx = ctx.clone();
        warp::any().map(move || ctx.clone())
    };
    let relay = warp::path("relay")
        .and(warp::path::end())
        .and(warp::ws())
        .and(
            warp::header::optional::<String>("origin")
                .and(warp::header::optional::<String>("x-forwarded-for"))
                .map(|origin, forwarded_for| (origin, forwarded_for)),
        )
        .and(warp::addr::remote())
        .and(with_ctx.clone())
        .map(upgrade);
    let healthz = warp::path("healthz").and(warp::path::end()).and(with_ctx.clone()).map(|ctx: Arc<Ctx>| {
        let body = serde_json::json!({
            "ok": true,
            "sessions": ctx.metrics.sessions.load(Ordering::Relaxed),
            "sockets": ctx.metrics.sockets.load(Ordering::Relaxed),
            "dhtReady": ctx.dht_ready.load(Ordering::Relaxed),
            "draining": *ctx.draining.borrow(),
        });
        Box::new(warp::reply::json(&body)) as Box<dyn Reply>
    });
    let metrics = warp::path("metrics").and(warp::path::end()).and(with_ctx).map(|ctx: Arc<Ctx>| {
        let text = ctx.metrics.render(ctx.dht_ready.load(Ordering::Relaxed));
        Box::new(warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4"))
            as Box<dyn Reply>
    });
    let files = warp::get()
        .and(warp::fs::dir(ctx.args.web_root.clone()))
        .map(|f: warp::fs::File| Box::new(f) as Box<dyn Reply>);
    warp::get().and(relay.or(healthz).unify().or(metrics).unify()).or(files).unify()
}
