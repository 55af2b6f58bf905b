-- Showroom commerce schema (PostgreSQL). Versions 1000+ belong to commerce; the engine uses 1..999.
CREATE TABLE commerce_products (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, price_minor BIGINT NOT NULL, currency TEXT NOT NULL,
    stock BIGINT NOT NULL CHECK (stock >= 0), image_url TEXT, variants TEXT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE commerce_stream_products (
    stream_id TEXT NOT NULL, product_id TEXT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (stream_id, product_id));
CREATE TABLE commerce_pins (
    stream_id TEXT NOT NULL, product_id TEXT NOT NULL, marker_id TEXT NOT NULL, pinned_pdt_ms BIGINT NOT NULL,
    PRIMARY KEY (stream_id, product_id));
CREATE TABLE commerce_polls (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, question TEXT NOT NULL, options TEXT NOT NULL,
    multiple BIGINT NOT NULL, closed BIGINT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE commerce_poll_votes (
    poll_id TEXT NOT NULL, user_id TEXT NOT NULL, choices TEXT NOT NULL, PRIMARY KEY (poll_id, user_id));
CREATE TABLE commerce_poll_tally (
    poll_id TEXT NOT NULL, option_idx BIGINT NOT NULL, votes BIGINT NOT NULL, PRIMARY KEY (poll_id, option_idx));
CREATE TABLE commerce_gift_catalog (id TEXT PRIMARY KEY, name TEXT NOT NULL, coins BIGINT NOT NULL CHECK (coins > 0));
CREATE TABLE commerce_balances (user_id TEXT PRIMARY KEY, coins BIGINT NOT NULL CHECK (coins >= 0));
CREATE TABLE commerce_gifts_sent (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, user_id TEXT NOT NULL, gift_id TEXT NOT NULL,
    count BIGINT NOT NULL, coins BIGINT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE commerce_gift_totals (
    stream_id TEXT NOT NULL, user_id TEXT NOT NULL, user_name TEXT, coins BIGINT NOT NULL, PRIMARY KEY (stream_id, user_id));
CREATE TABLE commerce_chat (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, user_id TEXT NOT NULL, user_name TEXT, body TEXT NOT NULL,
    deleted BIGINT NOT NULL, created_ms BIGINT NOT NULL);
CREATE INDEX commerce_chat_stream ON commerce_chat (stream_id, created_ms);
CREATE TABLE commerce_reactions (
    message_id TEXT NOT NULL, user_id TEXT NOT NULL, emoji TEXT NOT NULL, PRIMARY KEY (message_id, user_id, emoji));
CREATE TABLE commerce_sanctions (
    stream_id TEXT NOT NULL, user_id TEXT NOT NULL, kind TEXT NOT NULL, until_ms BIGINT NOT NULL,
    PRIMARY KEY (stream_id, user_id, kind));
CREATE TABLE commerce_chat_settings (
    stream_id TEXT PRIMARY KEY, slow_mode_ms BIGINT NOT NULL, banned_words TEXT NOT NULL, pinned_message TEXT);
CREATE TABLE commerce_chat_last (
    stream_id TEXT NOT NULL, user_id TEXT NOT NULL, last_ms BIGINT NOT NULL, PRIMARY KEY (stream_id, user_id));
CREATE TABLE commerce_modlog (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT,
    detail TEXT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE commerce_flash_sales (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, product_id TEXT NOT NULL, sale_price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL, stock_limit BIGINT NOT NULL, remaining BIGINT NOT NULL CHECK (remaining >= 0),
    per_customer_limit BIGINT NOT NULL, duration_ms BIGINT NOT NULL, state TEXT NOT NULL, win TEXT,
    created_ms BIGINT NOT NULL);
CREATE TABLE commerce_flash_purchases (
    sale_id TEXT NOT NULL, user_id TEXT NOT NULL, qty BIGINT NOT NULL, PRIMARY KEY (sale_id, user_id));
CREATE TABLE commerce_carts (
    user_id TEXT NOT NULL, stream_id TEXT NOT NULL, product_id TEXT NOT NULL, qty BIGINT NOT NULL,
    PRIMARY KEY (user_id, stream_id, product_id));
CREATE TABLE commerce_orders (
    id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, user_id TEXT NOT NULL, source TEXT NOT NULL, items TEXT NOT NULL,
    total_minor BIGINT NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, payment_provider TEXT,
    payment_ref TEXT, test_mode BIGINT NOT NULL, created_ms BIGINT NOT NULL);
CREATE INDEX commerce_orders_user ON commerce_orders (user_id, created_ms);
CREATE TABLE commerce_idempotency (
    user_id TEXT NOT NULL, idem_key TEXT NOT NULL, scope TEXT NOT NULL, result TEXT, created_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key));
CREATE TABLE commerce_stream_seq (stream_id TEXT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE commerce_events (
    stream_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, actor TEXT, audience TEXT, data TEXT NOT NULL,
    epoch BIGINT, pts_ms BIGINT, pdt_ms BIGINT NOT NULL, PRIMARY KEY (stream_id, seq));
