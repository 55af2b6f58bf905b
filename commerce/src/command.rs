//! Commands: the one vocabulary shared by WebSocket frames (`{"type": "pin.add", ...}`) and the
//! REST routes (which build the same command from path, query and body).

use crate::auth::{Actor, Role};
use crate::error::CommerceError;
use crate::sale_window::Playout;
use crate::Commerce;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Everything a client can ask. Stream-scoped commands act on the connection's/route's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
#[non_exhaustive]
pub enum Command {
    // products (global)
    #[serde(rename = "product.create")]
    ProductCreate {
        title: String,
        price_minor: i64,
        currency: String,
        stock: i64,
        #[serde(default)]
        image_url: Option<String>,
        #[serde(default)]
        variants: Vec<Value>,
    },
    #[serde(rename = "product.get")]
    ProductGet { product_id: String },
    /// Change the given fields (absent = unchanged; `image_url: ""` clears it).
    #[serde(rename = "product.update")]
    ProductUpdate(ProductEdit),
    #[serde(rename = "product.delete")]
    ProductDelete { product_id: String },
    #[serde(rename = "product.list")]
    ProductList {},
    // the stream's product list
    #[serde(rename = "stream_products.set")]
    StreamProductsSet { product_ids: Vec<String> },
    #[serde(rename = "stream_products.list")]
    StreamProductsList {},
    // pins
    #[serde(rename = "pin.add")]
    PinAdd { product_id: String },
    #[serde(rename = "pin.remove")]
    PinRemove { product_id: String },
    #[serde(rename = "pin.list")]
    PinList {},
    // polls
    #[serde(rename = "poll.create")]
    PollCreate {
        question: String,
        options: Vec<String>,
        #[serde(default)]
        multiple: bool,
    },
    #[serde(rename = "poll.vote")]
    PollVote { poll_id: String, choices: Vec<u32> },
    #[serde(rename = "poll.close")]
    PollClose { poll_id: String },
    #[serde(rename = "poll.get")]
    PollGet { poll_id: String },
    #[serde(rename = "poll.list")]
    PollList {},
    // gifts and coins
    #[serde(rename = "gift.create")]
    GiftCreate { name: String, coins: i64 },
    #[serde(rename = "gift.catalog")]
    GiftCatalog {},
    #[serde(rename = "coins.grant")]
    CoinsGrant { user_id: String, amount: i64 },
    #[serde(rename = "coins.balance")]
    CoinsBalance {},
    #[serde(rename = "gift.send")]
    GiftSend {
        gift_id: String,
        #[serde(default = "one")]
        count: i64,
    },
    #[serde(rename = "gift.leaderboard")]
    GiftLeaderboard {
        #[serde(default)]
        limit: Option<i64>,
    },
    // chat and moderation
    #[serde(rename = "chat.send")]
    ChatSend { text: String },
    #[serde(rename = "chat.react")]
    ChatReact { message_id: String, emoji: String },
    #[serde(rename = "chat.delete")]
    ChatDelete { message_id: String },
    #[serde(rename = "chat.history")]
    ChatHistory {
        #[serde(default)]
        limit: Option<i64>,
    },
    #[serde(rename = "mod.sanction")]
    ModSanction {
        user_id: String,
        kind: SanctionKind,
        /// Seconds; absent = one year.
        #[serde(default)]
        duration_s: Option<u64>,
    },
    #[serde(rename = "mod.lift")]
    ModLift { user_id: String, kind: SanctionKind },
    #[serde(rename = "mod.settings")]
    ModSettings {
        #[serde(default)]
        slow_mode_s: Option<u64>,
        #[serde(default)]
        banned_words: Option<Vec<String>>,
        /// `""` clears the pinned message.
        #[serde(default)]
        pinned_message: Option<String>,
    },
    #[serde(rename = "mod.log")]
    ModLog {},
    // flash sales
    #[serde(rename = "flash.create")]
    FlashCreate {
        product_id: String,
        sale_price_minor: i64,
        stock: i64,
        #[serde(default = "one")]
        per_customer_limit: i64,
        duration_s: u64,
    },
    #[serde(rename = "flash.start")]
    FlashStart {
        sale_id: String,
        /// Countdown before the sale opens, seconds of stream time.
        #[serde(default)]
        countdown_s: Option<u64>,
    },
    #[serde(rename = "flash.end")]
    FlashEnd { sale_id: String },
    #[serde(rename = "flash.list")]
    FlashList {},
    #[serde(rename = "flash.purchase")]
    FlashPurchase {
        sale_id: String,
        #[serde(default = "one")]
        quantity: i64,
        /// The stream time the buyer's player shows.
        #[serde(default)]
        playout: Option<Playout>,
        /// Idempotency key (REST sends it as the `Idempotency-Key` header).
        #[serde(default)]
        idempotency_key: Option<String>,
    },
    // cart and orders
    #[serde(rename = "cart.set")]
    CartSet { product_id: String, quantity: i64 },
    #[serde(rename = "cart.get")]
    CartGet {},
    #[serde(rename = "checkout")]
    Checkout {
        #[serde(default)]
        idempotency_key: Option<String>,
    },
    #[serde(rename = "order.get")]
    OrderGet { order_id: String },
    #[serde(rename = "order.list")]
    OrderList {},
    // timeline and tokens
    #[serde(rename = "timeline")]
    Timeline {
        #[serde(default)]
        since: Option<u64>,
        #[serde(default)]
        limit: Option<u64>,
    },
    #[serde(rename = "token.issue")]
    TokenIssue {
        role: Role,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        user_id: Option<String>,
    },
}

/// `product.update`: the product and the fields to change (absent = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductEdit {
    pub product_id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub price_minor: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub stock: Option<i64>,
    /// `""` clears the image.
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub variants: Option<Vec<Value>>,
}

fn one() -> i64 {
    1
}

/// Timed chat sanctions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SanctionKind {
    /// Cannot chat, react, vote or buy on the stream.
    Ban,
    /// Cannot chat or react.
    Mute,
}

impl SanctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ban => "ban",
            Self::Mute => "mute",
        }
    }
}

/// Every accepted `type` (used to tell "unknown type" from "bad fields").
pub const COMMAND_TYPES: &[&str] = &[
    "product.create",
    "product.get",
    "product.update",
    "product.delete",
    "product.list",
    "stream_products.set",
    "stream_products.list",
    "pin.add",
    "pin.remove",
    "pin.list",
    "poll.create",
    "poll.vote",
    "poll.close",
    "poll.get",
    "poll.list",
    "gift.create",
    "gift.catalog",
    "coins.grant",
    "coins.balance",
    "gift.send",
    "gift.leaderboard",
    "chat.send",
    "chat.react",
    "chat.delete",
    "chat.history",
    "mod.sanction",
    "mod.lift",
    "mod.settings",
    "mod.log",
    "flash.create",
    "flash.start",
    "flash.end",
    "flash.list",
    "flash.purchase",
    "cart.set",
    "cart.get",
    "checkout",
    "order.get",
    "order.list",
    "timeline",
    "token.issue",
];

fn need(stream: Option<&str>) -> Result<&str, CommerceError> {
    stream.ok_or_else(|| CommerceError::Invalid("this command needs a stream".into()))
}

impl Commerce {
    /// Run one command as `actor`, on `stream_id` when the command is stream-scoped.
    pub async fn execute(
        self: &Arc<Self>,
        actor: &Actor,
        stream_id: Option<&str>,
        cmd: Command,
    ) -> Result<Value, CommerceError> {
        if let Some(s) = stream_id {
            actor.require_stream(s)?;
            self.require_stream_fresh(s).await?;
        }
        use Command as C;
        match cmd {
            C::ProductCreate {
                title,
                price_minor,
                currency,
                stock,
                image_url,
                variants,
            } => {
                self.product_create(
                    actor,
                    title,
                    price_minor,
                    currency,
                    stock,
                    image_url,
                    variants,
                )
                .await
            }
            C::ProductGet { product_id } => self.product_get(&product_id).await,
            C::ProductUpdate(edit) => self.product_update(actor, edit).await,
            C::ProductDelete { product_id } => self.product_delete(actor, &product_id).await,
            C::ProductList {} => self.product_list().await,
            C::StreamProductsSet { product_ids } => {
                self.stream_products_set(actor, need(stream_id)?, product_ids)
                    .await
            }
            C::StreamProductsList {} => self.stream_products_list(need(stream_id)?).await,
            C::PinAdd { product_id } => self.pin_add(actor, need(stream_id)?, &product_id).await,
            C::PinRemove { product_id } => {
                self.pin_remove(actor, need(stream_id)?, &product_id).await
            }
            C::PinList {} => self.pin_list(need(stream_id)?).await,
            C::PollCreate {
                question,
                options,
                multiple,
            } => {
                self.poll_create(actor, need(stream_id)?, question, options, multiple)
                    .await
            }
            C::PollVote { poll_id, choices } => {
                self.poll_vote(actor, need(stream_id)?, &poll_id, choices)
                    .await
            }
            C::PollClose { poll_id } => self.poll_close(actor, need(stream_id)?, &poll_id).await,
            C::PollGet { poll_id } => self.poll_get(need(stream_id)?, &poll_id).await,
            C::PollList {} => self.poll_list(need(stream_id)?).await,
            C::GiftCreate { name, coins } => self.gift_create(actor, name, coins).await,
            C::GiftCatalog {} => self.gift_catalog().await,
            C::CoinsGrant { user_id, amount } => self.coins_grant(actor, &user_id, amount).await,
            C::CoinsBalance {} => self.coins_balance(actor).await,
            C::GiftSend { gift_id, count } => {
                self.gift_send(actor, need(stream_id)?, &gift_id, count)
                    .await
            }
            C::GiftLeaderboard { limit } => self.gift_leaderboard(need(stream_id)?, limit).await,
            C::ChatSend { text } => self.chat_send(actor, need(stream_id)?, text).await,
            C::ChatReact { message_id, emoji } => {
                self.chat_react(actor, need(stream_id)?, &message_id, emoji)
                    .await
            }
            C::ChatDelete { message_id } => {
                self.chat_delete(actor, need(stream_id)?, &message_id).await
            }
            C::ChatHistory { limit } => self.chat_history(need(stream_id)?, limit).await,
            C::ModSanction {
                user_id,
                kind,
                duration_s,
            } => {
                self.mod_sanction(actor, need(stream_id)?, &user_id, kind, duration_s)
                    .await
            }
            C::ModLift { user_id, kind } => {
                self.mod_lift(actor, need(stream_id)?, &user_id, kind).await
            }
            C::ModSettings {
                slow_mode_s,
                banned_words,
                pinned_message,
            } => {
                self.mod_settings(
                    actor,
                    need(stream_id)?,
                    slow_mode_s,
                    banned_words,
                    pinned_message,
                )
                .await
            }
            C::ModLog {} => self.mod_log(actor, need(stream_id)?).await,
            C::FlashCreate {
                product_id,
                sale_price_minor,
                stock,
                per_customer_limit,
                duration_s,
            } => {
                self.flash_create(
                    actor,
                    need(stream_id)?,
                    &product_id,
                    sale_price_minor,
                    stock,
                    per_customer_limit,
                    duration_s,
                )
                .await
            }
            C::FlashStart {
                sale_id,
                countdown_s,
            } => {
                self.flash_start(actor, need(stream_id)?, &sale_id, countdown_s.unwrap_or(0))
                    .await
            }
            C::FlashEnd { sale_id } => self.flash_end(actor, need(stream_id)?, &sale_id).await,
            C::FlashList {} => self.flash_list(need(stream_id)?).await,
            C::FlashPurchase {
                sale_id,
                quantity,
                playout,
                idempotency_key,
            } => {
                self.flash_purchase(
                    actor,
                    need(stream_id)?,
                    &sale_id,
                    quantity,
                    playout.unwrap_or_default(),
                    idempotency_key,
                )
                .await
            }
            C::CartSet {
                product_id,
                quantity,
            } => {
                self.cart_set(actor, need(stream_id)?, &product_id, quantity)
                    .await
            }
            C::CartGet {} => self.cart_get(actor, need(stream_id)?).await,
            C::Checkout { idempotency_key } => {
                self.checkout(actor, need(stream_id)?, idempotency_key)
                    .await
            }
            C::OrderGet { order_id } => self.order_get(actor, &order_id).await,
            C::OrderList {} => self.order_list(actor).await,
            C::Timeline { since, limit } => self.timeline(need(stream_id)?, since, limit).await,
            C::TokenIssue {
                role,
                name,
                user_id,
            } => self.token_issue(actor, stream_id, role, name, user_id),
        }
    }
}
