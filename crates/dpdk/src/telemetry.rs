//! DPDK telemetry: application commands served on EAL's telemetry socket
//! (`<runtime dir>/dpdk_telemetry.v2`, read by `dpdk-telemetry.py`) next to DPDK's own
//! (`/ethdev/...`, `/eal/...`).
//!
//! A command is a closure from its parameter (what follows the first `,` of the
//! request, `None` if nothing does) to a [`TelValue`]. DPDK calls it on its telemetry
//! thread (one per client connection), never on an lcore: it may block briefly, and it
//! must not touch anything an lcore owns.
//!
//! DPDK 22.11's data model is narrower than JSON: a reply is a dict, an array of
//! scalars (or of scalar arrays) or one string; dict values are strings of at most 127
//! bytes, `i32`, `u64`, or a nested dict or scalar array; dict keys may only contain
//! `[A-Za-z0-9_/]`; a dict has at most 256 entries, an array 512. [`TelValue::fit`] maps
//! any [`TelValue`] into that model (the rules are on it), so a handler can return what
//! it has; [`register`] applies it before DPDK sees the value.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::ffi;

/// Longest string inside a dict or array (bytes, without the NUL).
pub const MAX_STRING: usize = ffi::RTE_TEL_MAX_STRING_LEN as usize - 1;
/// Longest reply that is a single string (bytes, without the NUL).
pub const MAX_SINGLE_STRING: usize = ffi::RTE_TEL_MAX_SINGLE_STRING_LEN as usize - 1;
/// Most entries of one dict.
pub const MAX_DICT_ENTRIES: usize = ffi::RTE_TEL_MAX_DICT_ENTRIES as usize;
/// Most entries of one array.
pub const MAX_ARRAY_ENTRIES: usize = ffi::RTE_TEL_MAX_ARRAY_ENTRIES as usize;
/// Longest command name DPDK 22.11 accepts (`MAX_CMD_LEN` 56, with its NUL).
pub const MAX_COMMAND: usize = 55;

/// A telemetry reply, or a part of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelValue {
    /// A string.
    Str(String),
    /// A signed 32-bit integer.
    Int(i32),
    /// An unsigned 64-bit integer.
    U64(u64),
    /// Named entries, in order.
    Dict(Vec<(String, TelValue)>),
    /// Values, in order.
    Array(Vec<TelValue>),
}

impl TelValue {
    /// A dict from `(name, value)` pairs.
    pub fn dict<K: Into<String>>(entries: impl IntoIterator<Item = (K, TelValue)>) -> TelValue {
        TelValue::Dict(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// `{"error": why}`: how a command says it cannot answer.
    pub fn error(why: impl Into<String>) -> TelValue {
        TelValue::dict([("error", TelValue::Str(why.into()))])
    }

    fn is_scalar(&self) -> bool {
        matches!(self, TelValue::Str(_) | TelValue::Int(_) | TelValue::U64(_))
    }

    fn scalar_text(&self) -> String {
        match self {
            TelValue::Str(s) => s.clone(),
            TelValue::Int(i) => i.to_string(),
            TelValue::U64(u) => u.to_string(),
            TelValue::Dict(_) | TelValue::Array(_) => String::new(),
        }
    }

    /// This value as DPDK 22.11 can carry it, as a whole reply:
    /// * a number alone becomes a string; a string is cut to [`MAX_SINGLE_STRING`]
    ///   bytes (inside a dict or array to [`MAX_STRING`]), at a character boundary;
    /// * an array holding a dict or array becomes a dict keyed by position (`"0"`,
    ///   `"1"`, ...): DPDK's arrays cannot hold dicts, nor nest inside a dict;
    /// * a scalar array of mixed types becomes one type: all `Int`, all `U64`, `U64` if
    ///   the `Int`s are not negative, otherwise all strings; at most
    ///   [`MAX_ARRAY_ENTRIES`] are kept;
    /// * dict keys keep `[A-Za-z0-9_/]`, other characters become `_` (an empty key is
    ///   `_`), cut to [`MAX_STRING`] bytes; a dict with more than [`MAX_DICT_ENTRIES`]
    ///   keeps the first 255 and says in `"truncated"` how many it left out.
    pub fn fit(self) -> TelValue {
        match self {
            TelValue::Str(s) => TelValue::Str(truncate(s, MAX_SINGLE_STRING)),
            TelValue::Int(_) | TelValue::U64(_) => TelValue::Str(self.scalar_text()),
            other => other.fit_inner(),
        }
    }

    /// Fitted as a value inside a dict.
    fn fit_inner(self) -> TelValue {
        match self {
            TelValue::Str(s) => TelValue::Str(truncate(s, MAX_STRING)),
            TelValue::Int(_) | TelValue::U64(_) => self,
            TelValue::Dict(entries) => fit_dict(entries),
            TelValue::Array(items) if items.iter().all(TelValue::is_scalar) => {
                fit_scalar_array(items)
            }
            TelValue::Array(items) => fit_dict(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), v))
                    .collect(),
            ),
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A dict key as DPDK 22.11 accepts it (`valid_name`: `[A-Za-z0-9_/]`).
pub fn key(name: &str) -> String {
    let k: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '/' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_STRING)
        .collect();
    if k.is_empty() {
        "_".into()
    } else {
        k
    }
}

fn fit_dict(entries: Vec<(String, TelValue)>) -> TelValue {
    let n = entries.len();
    let keep = if n > MAX_DICT_ENTRIES {
        MAX_DICT_ENTRIES - 1
    } else {
        n
    };
    let mut out: Vec<(String, TelValue)> = entries
        .into_iter()
        .take(keep)
        .map(|(k, v)| (key(&k), v.fit_inner()))
        .collect();
    if keep < n {
        out.push(("truncated".into(), TelValue::U64((n - keep) as u64)));
    }
    TelValue::Dict(out)
}

fn fit_scalar_array(mut items: Vec<TelValue>) -> TelValue {
    items.truncate(MAX_ARRAY_ENTRIES);
    let all_int = items.iter().all(|v| matches!(v, TelValue::Int(_)));
    let numbers = items
        .iter()
        .all(|v| matches!(v, TelValue::U64(_)) || matches!(v, TelValue::Int(i) if *i >= 0));
    let items = if all_int {
        items
    } else if numbers {
        items
            .into_iter()
            .map(|v| match v {
                TelValue::Int(i) => TelValue::U64(i as u64),
                other => other,
            })
            .collect()
    } else {
        items
            .into_iter()
            .map(|v| TelValue::Str(truncate(v.scalar_text(), MAX_STRING)))
            .collect()
    };
    TelValue::Array(items)
}

/// A command's handler: its parameter (the text after the first `,`), its reply.
type Handler = Arc<dyn Fn(Option<&str>) -> TelValue + Send + Sync>;

static HANDLERS: RwLock<Vec<(String, Handler)>> = RwLock::new(Vec::new());

/// Registers `cmd` (e.g. `/app/stats`: starts with `/`, at most [`MAX_COMMAND`] bytes)
/// with DPDK's telemetry; `help` is what `/help,<cmd>` shows. The handler's reply is
/// [`TelValue::fit`]ted; a panic in it is caught and answered with an error dict.
///
/// DPDK keeps commands for the life of the process, so register each one once. Works
/// before or after [`crate::Eal::init`]; with `--no-telemetry` nobody ever asks.
pub fn register(
    cmd: &str,
    help: &str,
    handler: impl Fn(Option<&str>) -> TelValue + Send + Sync + 'static,
) -> Result<()> {
    if !cmd.starts_with('/') || cmd.len() > MAX_COMMAND || cmd.contains(',') {
        return Err(Error::InvalidArgument(format!(
            "telemetry command {cmd:?}: must start with '/', have no ',' and at most {MAX_COMMAND} bytes"
        )));
    }
    let c_cmd = CString::new(cmd)
        .map_err(|_| Error::InvalidArgument(format!("telemetry command {cmd:?} contains NUL")))?;
    let c_help = CString::new(truncate(help.to_string(), MAX_STRING))
        .map_err(|_| Error::InvalidArgument("telemetry help contains NUL".into()))?;
    {
        let mut h = HANDLERS.write().unwrap_or_else(|e| e.into_inner());
        if h.iter().any(|(c, _)| c == cmd) {
            return Err(Error::InvalidArgument(format!(
                "telemetry command {cmd} is already registered"
            )));
        }
        h.push((cmd.to_string(), Arc::new(handler)));
    }
    // SAFETY: both strings are valid NUL-terminated C strings (DPDK copies them);
    // `dispatch` has the `telemetry_cb` signature and never unwinds.
    let rc =
        unsafe { ffi::rte_telemetry_register_cmd(c_cmd.as_ptr(), Some(dispatch), c_help.as_ptr()) };
    if rc < 0 {
        let mut h = HANDLERS.write().unwrap_or_else(|e| e.into_inner());
        h.retain(|(c, _)| c != cmd);
        return Err(Error::dpdk("rte_telemetry_register_cmd", cmd, rc));
    }
    Ok(())
}

/// The one `telemetry_cb` of every command registered here: finds the handler by name.
unsafe extern "C" fn dispatch(
    cmd: *const c_char,
    params: *const c_char,
    d: *mut ffi::rte_tel_data,
) -> c_int {
    let reply = std::panic::catch_unwind(|| {
        // SAFETY: DPDK passes the NUL-terminated command and (possibly NULL) parameter
        // strings of the request, valid for the duration of the call.
        let cmd = unsafe { c_str(cmd) }.unwrap_or_default();
        let params = unsafe { c_str(params) }.filter(|p| !p.is_empty());
        let handler = HANDLERS
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(c, _)| c == &cmd)
            .map(|(_, h)| Arc::clone(h));
        match handler {
            Some(h) => h(params.as_deref()),
            None => TelValue::error(format!("{cmd}: no handler")),
        }
    })
    .unwrap_or_else(|_| TelValue::error("the command's handler panicked"));
    if d.is_null() {
        return -1;
    }
    // SAFETY: `d` is the reply DPDK passed in, not yet started.
    unsafe { write(&reply.fit(), d) };
    0
}

/// # Safety
/// `p` is NULL or a valid NUL-terminated string.
unsafe fn c_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Writes a fitted value into `d` (a fresh `rte_tel_data`).
///
/// # Safety
/// `d` points to a valid `rte_tel_data` this thread may write.
unsafe fn write(v: &TelValue, d: *mut ffi::rte_tel_data) {
    // Return codes: E2BIG (a truncated string) is not an error, and a refused entry
    // only leaves that entry out; the reply stays valid JSON either way.
    // SAFETY (all calls below): `d` is valid per the contract, strings are valid C
    // strings for the duration of each call (DPDK copies them).
    unsafe {
        match v {
            TelValue::Dict(entries) => {
                ffi::rte_tel_data_start_dict(d);
                for (k, v) in entries {
                    let k = cstring(k);
                    match v {
                        TelValue::Str(s) => {
                            ffi::rte_tel_data_add_dict_string(d, k.as_ptr(), cstring(s).as_ptr());
                        }
                        TelValue::Int(i) => {
                            ffi::rte_tel_data_add_dict_int(d, k.as_ptr(), *i);
                        }
                        TelValue::U64(u) => {
                            ffi::rte_tel_data_add_dict_u64(d, k.as_ptr(), *u);
                        }
                        TelValue::Dict(_) | TelValue::Array(_) => {
                            let c = ffi::rte_tel_data_alloc();
                            if c.is_null() {
                                continue;
                            }
                            write(v, c);
                            if ffi::rte_tel_data_add_dict_container(d, k.as_ptr(), c, 0) < 0 {
                                ffi::rte_tel_data_free(c);
                            }
                        }
                    }
                }
            }
            TelValue::Array(items) => {
                let ty = match items.first() {
                    Some(TelValue::Int(_)) => ffi::rte_tel_value_type_RTE_TEL_INT_VAL,
                    Some(TelValue::U64(_)) => ffi::rte_tel_value_type_RTE_TEL_U64_VAL,
                    _ => ffi::rte_tel_value_type_RTE_TEL_STRING_VAL,
                };
                ffi::rte_tel_data_start_array(d, ty);
                for x in items {
                    match x {
                        TelValue::Int(i) => {
                            ffi::rte_tel_data_add_array_int(d, *i);
                        }
                        TelValue::U64(u) => {
                            ffi::rte_tel_data_add_array_u64(d, *u);
                        }
                        other => {
                            ffi::rte_tel_data_add_array_string(
                                d,
                                cstring(&other.scalar_text()).as_ptr(),
                            );
                        }
                    }
                }
            }
            TelValue::Str(s) => {
                ffi::rte_tel_data_string(d, cstring(s).as_ptr());
            }
            TelValue::Int(_) | TelValue::U64(_) => {
                ffi::rte_tel_data_string(d, cstring(&v.scalar_text()).as_ptr());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TelValue::{Array, Dict, Int, Str, U64};
    use super::*;

    #[test]
    fn scalars_alone_become_strings_and_strings_are_cut_at_a_char_boundary() {
        assert_eq!(U64(7).fit(), Str("7".into()));
        assert_eq!(Int(-3).fit(), Str("-3".into()));
        let long = "é".repeat(100); // 200 bytes
        let Dict(d) = TelValue::dict([("s", Str(long.clone()))]).fit() else {
            panic!("dict")
        };
        let Str(s) = &d[0].1 else { panic!("str") };
        assert_eq!(s.len(), 126, "127 would split a character");
        assert!(long.starts_with(s.as_str()));
        assert_eq!(Str("a\0b".into()).fit(), Str("ab".into()));
    }

    #[test]
    fn keys_are_made_valid_names() {
        assert_eq!(key("rx_bytes"), "rx_bytes");
        assert_eq!(key("drop.reason-x y"), "drop_reason_x_y");
        assert_eq!(key("a/b"), "a/b");
        assert_eq!(key(""), "_");
        assert_eq!(key(&"k".repeat(300)).len(), MAX_STRING);
    }

    #[test]
    fn arrays_of_containers_become_dicts_keyed_by_position() {
        let v = Array(vec![
            TelValue::dict([("name", Str("a".into()))]),
            Array(vec![U64(1), Array(vec![])]),
        ]);
        assert_eq!(
            v.fit(),
            Dict(vec![
                ("0".into(), Dict(vec![("name".into(), Str("a".into()))])),
                (
                    "1".into(),
                    Dict(vec![("0".into(), U64(1)), ("1".into(), Array(vec![]))])
                ),
            ])
        );
    }

    #[test]
    fn scalar_arrays_get_one_type() {
        assert_eq!(
            Array(vec![Int(1), Int(-2)]).fit(),
            Array(vec![Int(1), Int(-2)])
        );
        assert_eq!(
            Array(vec![Int(1), U64(2)]).fit(),
            Array(vec![U64(1), U64(2)])
        );
        assert_eq!(
            Array(vec![Int(-1), U64(2), Str("x".into())]).fit(),
            Array(vec![Str("-1".into()), Str("2".into()), Str("x".into())])
        );
        let Array(a) = Array((0..600).map(U64).collect()).fit() else {
            panic!("array")
        };
        assert_eq!(a.len(), MAX_ARRAY_ENTRIES);
    }

    #[test]
    fn big_dicts_say_how_much_they_left_out() {
        let Dict(d) = TelValue::dict((0..300).map(|i| (format!("k{i}"), U64(i)))).fit() else {
            panic!("dict")
        };
        assert_eq!(d.len(), MAX_DICT_ENTRIES);
        assert_eq!(d[254], ("k254".into(), U64(254)));
        assert_eq!(d[255], ("truncated".into(), U64(45)));
    }

    #[test]
    fn bad_command_names_are_refused_before_dpdk() {
        for bad in ["app/stats", "/a,b", &format!("/{}", "x".repeat(60))] {
            assert!(
                matches!(
                    register(bad, "", |_| U64(0)),
                    Err(Error::InvalidArgument(_))
                ),
                "{bad}"
            );
        }
    }
}
