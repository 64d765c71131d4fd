//! insta glue (skeleton)
