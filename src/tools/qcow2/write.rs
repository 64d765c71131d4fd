//! `QcowHeader.update()`: writing the header and its extensions back.
//!
//! qcow2.py writes as it goes and the file is flushed when it exits, also
//! when it dies of an exception half way, so a failing update leaves the
//! writes made before the failure in the file. The order of the steps is
//! kept for that reason: extensions (at the new `header_length`), the end
//! marker, the backing file name, the cluster-size check, and only then the
//! header — of which `header_length - 1` bytes are written, as upstream's
//! slice `buf[0:header_bytes-1]` does.

use super::format::{BACKING_FILE_OFFSET, EXT_FIELDS, ExtBody, HEADER_FIELDS, HEADER_LENGTH, Header};
use super::pyfile::{PyFile, PyResult, pack, struct_size};
use super::pyint::PyInt;

/// A value `set-header` stored that `struct.pack` will refuse (negative, or
/// too large for the field's type), which Python only notices when it packs
/// the header.
pub(crate) struct BadValue {
    /// Index into [`HEADER_FIELDS`].
    pub(crate) index: usize,
    pub(crate) value: PyInt,
}

/// The extension `add-header-ext` appends: `QcowHeaderExtension.create()`.
pub(crate) struct NewExt {
    pub(crate) magic: PyInt,
    /// The data, not yet padded.
    pub(crate) data: Vec<u8>,
}

/// `fd.seek(n)` for a Python int.
fn seek_int(f: &mut PyFile, n: &PyInt) -> PyResult<()> {
    if n.is_negative() {
        let shown = n.to_decimal().unwrap_or_else(|| "<huge>".into());
        return Err(format!("ValueError: negative seek position {shown}"));
    }
    match n.to_u64() {
        Some(pos) => f.seek(pos),
        None => Err("OverflowError: Python int too large to convert to C long".into()),
    }
}

/// `struct.pack('>I', n)`.
fn as_u32(n: &PyInt, what: &str) -> PyResult<u32> {
    n.to_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| format!("struct.error: 'I' format requires 0 <= number <= 4294967295 ({what})"))
}

impl Header {
    /// `QcowHeader.update(fd)`, after `set-header` (`bad`) or
    /// `add-header-ext` (`new_ext`) changed the header.
    pub(crate) fn update(
        &mut self,
        f: &mut PyFile,
        new_ext: Option<NewExt>,
        mut bad: Option<BadValue>,
    ) -> PyResult<()> {
        let header_length = match &bad {
            Some(b) if b.index == HEADER_LENGTH => b.value.clone(),
            _ => PyInt::from_u64(self.values[HEADER_LENGTH]),
        };

        // update_extensions()
        seek_int(f, &header_length)?;
        for ext in &self.extensions {
            f.write(&pack(&EXT_FIELDS, &[ext.magic.into(), ext.length.into()]))?;
            match &ext.body {
                ExtBody::Data(data) => f.write(data)?,
                // Upstream keeps no bytes for the parsed bitmaps extension
                // and fails on `fd.write(None)`.
                ExtBody::Bitmaps(_) => {
                    return Err("TypeError: a bytes-like object is required, not 'NoneType' \
                                (qcow2.py cannot write back a bitmaps extension)"
                        .into());
                }
            }
        }
        if let Some(new) = new_ext {
            let magic = as_u32(&new.magic, "extension magic")?;
            let length = u32::try_from(new.data.len())
                .map_err(|_| "struct.error: 'I' format requires 0 <= number <= 4294967295 (extension length)")?;
            f.write(&pack(&EXT_FIELDS, &[magic.into(), length.into()]))?;
            let mut data = new.data;
            data.resize(data.len().next_multiple_of(8), 0);
            f.write(&data)?;
        }
        f.write(&[0; 8])?;
        if let Some(name) = &self.backing_file {
            self.values[BACKING_FILE_OFFSET] = f.tell()?;
            if bad.as_ref().is_some_and(|b| b.index == BACKING_FILE_OFFSET) {
                bad = None;
            }
            f.write(name)?;
        }
        if u128::from(f.tell()?) > self.cluster_size_bound() {
            return Err("Exception: I think I just broke the image...".into());
        }

        // The header itself.
        if let Some(b) = bad {
            let field = HEADER_FIELDS[b.index];
            let shown = b.value.to_decimal().unwrap_or_else(|| "<huge>".into());
            return Err(format!("struct.error: argument out of range ({} = {shown})", field.name));
        }
        let buf = pack(&HEADER_FIELDS, &self.values);
        // buf[0:header_bytes-1], with Python's slice clamping.
        let stop = self.values[HEADER_LENGTH] as i128 - 1;
        let full = struct_size(&HEADER_FIELDS) as i128;
        let len = if stop < 0 { (full + stop).max(0) } else { stop.min(full) };
        f.seek(0)?;
        f.write(&buf[..len as usize])
    }
}
