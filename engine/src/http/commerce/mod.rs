//! The commerce REST API (`/api/v1/...`) and WebSocket (`/ws/{id}`). Handlers live in
//! `showroom_commerce::transport`; each resource route runs the same command a WebSocket frame
//! would (see docs/commerce.md). Admin auth: `Authorization: Bearer <admin key>` or an admin JWT.

use axum::routing::{get, post, put};
use axum::Router;
use showroom_commerce::transport::rest::{any_command, command as cmd, host_token, viewer_token};
use showroom_commerce::transport::ws::ws_handler;
use showroom_commerce::Commerce;
use std::sync::Arc;

/// All commerce routes, state applied: the engine `.merge()`s this.
pub fn router(commerce: Arc<Commerce>) -> Router {
    let s = "/api/v1/streams/{id}";
    Router::new()
        // tokens
        .route("/api/v1/tokens", post(cmd("token.issue")))
        .route(&format!("{s}/tokens"), post(cmd("token.issue")))
        .route(&format!("{s}/tokens/host"), post(host_token))
        .route(&format!("{s}/tokens/viewer"), post(viewer_token))
        // products and the stream's product list
        .route(
            "/api/v1/products",
            get(cmd("product.list")).post(cmd("product.create")),
        )
        .route(
            "/api/v1/products/{product_id}",
            get(cmd("product.get"))
                .patch(cmd("product.update"))
                .delete(cmd("product.delete")),
        )
        .route(
            &format!("{s}/products"),
            get(cmd("stream_products.list")).put(cmd("stream_products.set")),
        )
        // pins
        .route(
            &format!("{s}/pins"),
            get(cmd("pin.list")).post(cmd("pin.add")),
        )
        .route(
            &format!("{s}/pins/{{product_id}}"),
            axum::routing::delete(cmd("pin.remove")),
        )
        // polls
        .route(
            &format!("{s}/polls"),
            get(cmd("poll.list")).post(cmd("poll.create")),
        )
        .route(&format!("{s}/polls/{{poll_id}}"), get(cmd("poll.get")))
        .route(
            &format!("{s}/polls/{{poll_id}}/votes"),
            post(cmd("poll.vote")),
        )
        .route(
            &format!("{s}/polls/{{poll_id}}/close"),
            post(cmd("poll.close")),
        )
        // gifts and coins
        .route(
            "/api/v1/gifts",
            get(cmd("gift.catalog")).post(cmd("gift.create")),
        )
        .route("/api/v1/users/{user_id}/coins", post(cmd("coins.grant")))
        .route("/api/v1/me/coins", get(cmd("coins.balance")))
        .route(&format!("{s}/gifts"), post(cmd("gift.send")))
        .route(&format!("{s}/leaderboard"), get(cmd("gift.leaderboard")))
        // chat and moderation
        .route(
            &format!("{s}/chat"),
            get(cmd("chat.history")).post(cmd("chat.send")),
        )
        .route(
            &format!("{s}/chat/{{message_id}}"),
            axum::routing::delete(cmd("chat.delete")),
        )
        .route(
            &format!("{s}/chat/{{message_id}}/reactions"),
            post(cmd("chat.react")),
        )
        .route(
            &format!("{s}/moderation/sanctions"),
            post(cmd("mod.sanction")),
        )
        .route(
            &format!("{s}/moderation/sanctions/{{user_id}}/{{kind}}"),
            axum::routing::delete(cmd("mod.lift")),
        )
        .route(
            &format!("{s}/moderation/settings"),
            put(cmd("mod.settings")),
        )
        .route(&format!("{s}/moderation/log"), get(cmd("mod.log")))
        // flash sales
        .route(
            &format!("{s}/flash-sales"),
            get(cmd("flash.list")).post(cmd("flash.create")),
        )
        .route(
            &format!("{s}/flash-sales/{{sale_id}}/start"),
            post(cmd("flash.start")),
        )
        .route(
            &format!("{s}/flash-sales/{{sale_id}}/end"),
            post(cmd("flash.end")),
        )
        .route(
            &format!("{s}/flash-sales/{{sale_id}}/purchase"),
            post(cmd("flash.purchase")),
        )
        // cart and orders
        .route(&format!("{s}/cart"), get(cmd("cart.get")))
        .route(&format!("{s}/cart/{{product_id}}"), put(cmd("cart.set")))
        .route(&format!("{s}/checkout"), post(cmd("checkout")))
        .route("/api/v1/orders", get(cmd("order.list")))
        .route("/api/v1/orders/{order_id}", get(cmd("order.get")))
        // timeline, generic commands, WebSocket
        .route(&format!("{s}/timeline"), get(cmd("timeline")))
        .route(&format!("{s}/commands"), post(any_command))
        .route("/ws/{id}", get(ws_handler))
        .with_state(commerce)
}
