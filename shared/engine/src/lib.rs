//! The conversation engine: the resumable turn ([`turn`]), batches of queue records with
//! a visibility heartbeat ([`batch`]), and the polling worker `comms serve` runs
//! ([`worker`]). It depends only on the core's ports: the Lambda binaries
//! (`processors/`) and `comms serve` (`cli/`) hand it adapters.

pub mod batch;
pub mod prices;
pub mod turn;
pub mod worker;
