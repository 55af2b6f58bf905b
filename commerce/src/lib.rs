//! Showroom's live-commerce interaction layer — being built (see the interaction-layer issue).
//!
//! It will own products, pins, polls, gifts, chat and moderation, flash sales and orders, their
//! storage (sqlx: SQLite or PostgreSQL) and the event bus (in-process, or Redis pub/sub). It never
//! touches the media path: the engine gives it a stream clock (media time to wall time).
