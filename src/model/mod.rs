//! The modelled components: sources, services, edges with their call policies, and the
//! requests that flow between them.
//!
//! Components hold their scenario spec (the live, editable configuration) next to their run
//! state. Their behaviour is written as `impl Net` blocks next to the data, one file per concept.

pub mod control;
pub mod dist;
pub mod exchange;
pub mod request;
pub mod service;
pub mod source;
