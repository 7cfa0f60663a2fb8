//! Channel processors: batch handling, heartbeat and the conversation turn.
//!
//! Empty until the SMS processor lands (issue 3); the crate exists so the workspace has
//! the layout of the design from the start and later work adds code, not structure.
