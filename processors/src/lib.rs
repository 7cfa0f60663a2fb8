//! Channel processors: the conversation turn ([`turn`]), batches of queue records with a
//! visibility heartbeat ([`batch`]), and the polling worker `comms serve` runs
//! ([`worker`]); [`lambda`] is the same batch code behind an SQS event source mapping,
//! used by the thin binaries in `src/bin/` (one per channel).

pub mod batch;
pub mod lambda;
pub mod turn;
pub mod worker;
