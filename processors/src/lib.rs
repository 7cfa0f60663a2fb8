//! Channel processors: the conversation turn ([`turn`]), batches of queue records with a
//! visibility heartbeat ([`batch`]), and the polling worker `comms serve` runs
//! ([`worker`]). Lambda binaries will call [`batch::process_batch`] with the same engine.

pub mod batch;
pub mod turn;
pub mod worker;
