//! go-yaml v3 emitter port.
