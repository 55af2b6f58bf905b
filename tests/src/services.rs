//! Real servers for tests: redis-server and PostgreSQL on loopback, started per test in a temp dir.
//! (Owned by the commerce work; filled as it lands.)
