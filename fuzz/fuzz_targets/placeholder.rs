#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sealbridge_fuzz::placeholder(data);
});
