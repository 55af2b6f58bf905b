//! Payment behind a provider trait. The built-in provider is `test`: TEST MODE, no money moves.

use std::future::Future;
use std::pin::Pin;

/// What to charge.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub order_id: String,
    pub user_id: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// A successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The provider's reference for the payment.
    pub reference: String,
    /// True when no real money moved.
    pub test_mode: bool,
}

pub type ChargeFuture<'a> = Pin<Box<dyn Future<Output = Result<Charge, String>> + Send + 'a>>;

/// A payment provider. `charge` is called after the order is durably stored as `pending`.
pub trait PaymentProvider: Send + Sync + 'static {
    /// Short name stored on orders (`test`, `stripe`, ...).
    fn name(&self) -> &'static str;
    /// Charge; `Err(reason)` marks the order `payment_failed` and releases its stock.
    fn charge(&self, req: ChargeRequest) -> ChargeFuture<'_>;
}

/// TEST MODE provider: approves every charge except amounts ending in `13` minor units
/// (to exercise the failure path). Orders it pays carry `test_mode: true`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestPaymentProvider;

impl PaymentProvider for TestPaymentProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn charge(&self, req: ChargeRequest) -> ChargeFuture<'_> {
        Box::pin(async move {
            if req.amount_minor % 100 == 13 {
                return Err("test provider declines amounts ending in 13 (test mode)".into());
            }
            Ok(Charge {
                reference: format!("test_{}", req.order_id),
                test_mode: true,
            })
        })
    }
}
