//! The `montecarlo` kernel family (to be filled in: see docs/architecture.md, "How to add a kernel").
