//! Secret backends. (The `Backend` trait and engine glue belong to the render engine; this
//! file only declares the modules until it lands.)

pub mod vault;
