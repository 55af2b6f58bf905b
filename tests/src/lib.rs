//! Test harness shared by the integration tests in `tests/tests/`: start a real `showroom`
//! process on loopback ports, and drive real clients (ffmpeg, GStreamer, Chromium) against it.
