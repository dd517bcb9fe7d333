//! The `file` probe's `version` property: the fixed file version of a version resource.

use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use vt_policy::Value;
use windows_sys::Win32::Storage::FileSystem::{
    GetFileVersionInfoSizeW, GetFileVersionInfoW, VerQueryValueW, VS_FIXEDFILEINFO,
};

use super::win::{api_error, last_error};
use crate::probes::ProbeFailure;

/// ERROR_RESOURCE_DATA_NOT_FOUND / ERROR_RESOURCE_TYPE_NOT_FOUND: the file has no version
/// resource, which is an absent property rather than a failure.
const NO_RESOURCE: [u32; 2] = [1812, 1813];

/// "a.b.c.d" from VS_FIXEDFILEINFO; `Ok(None)` when the file has no version resource.
pub fn file_version(real: &Path, path: &str) -> Result<Option<Value>, ProbeFailure> {
    let w: Vec<u16> = real.as_os_str().encode_wide().chain(std::iter::once(0)).collect();
    let mut handle = 0u32;
    // SAFETY: `w` is NUL-terminated.
    let size = unsafe { GetFileVersionInfoSizeW(w.as_ptr(), &mut handle) };
    if size == 0 {
        let code = last_error();
        if NO_RESOURCE.contains(&code) {
            return Ok(None);
        }
        if code == 2 || code == 3 {
            return Ok(None);
        }
        return Err(api_error(&format!("{path}: version resource"), code));
    }
    let mut buf = vec![0u8; size as usize];
    // SAFETY: `buf` is valid for `size` bytes.
    if unsafe { GetFileVersionInfoW(w.as_ptr(), 0, size, buf.as_mut_ptr().cast()) } == 0 {
        return Err(api_error(&format!("{path}: version resource"), last_error()));
    }
    let mut info: *mut core::ffi::c_void = std::ptr::null_mut();
    let mut len = 0u32;
    let root = [u16::from(b'\\'), 0];
    // SAFETY: `buf` holds the version resource; on success `info` points inside `buf`.
    let ok = unsafe { VerQueryValueW(buf.as_ptr().cast(), root.as_ptr(), &mut info, &mut len) };
    if ok == 0 || info.is_null() || (len as usize) < std::mem::size_of::<VS_FIXEDFILEINFO>() {
        return Ok(None);
    }
    // SAFETY: the block is a VS_FIXEDFILEINFO of at least the checked size, inside `buf`
    // (which is still alive); read_unaligned because the resource gives no alignment promise.
    let fixed = unsafe { std::ptr::read_unaligned(info.cast::<VS_FIXEDFILEINFO>()) };
    let (ms, ls) = (fixed.dwFileVersionMS, fixed.dwFileVersionLS);
    Ok(Some(Value::Text(format!(
        "{}.{}.{}.{}",
        ms >> 16,
        ms & 0xffff,
        ls >> 16,
        ls & 0xffff
    ))))
}
