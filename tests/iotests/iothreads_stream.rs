//! Port of upstream iotest iothreads_stream: not written yet.
