//! What the analytics job reads from a store: counters in any unit of their dimension, two sites
//! with one meter name, spikes, the load margin around local period starts, and files other
//! tools wrote. One test binary for all (each binary links polars: a few hundred MB apiece).

mod common;
mod counters_in_store;
mod load_margin;
mod other_tools;
