//! The Windows half of the native collectors: Win32 calls that fill the
//! plain records of `native.rs`. Nothing here decides anything; each
//! function asks one API and copies out what it answered. Built only for
//! Windows (checked by `cargo clippy --target x86_64-pc-windows-gnu` in CI
//! and run under Wine by `tests/e2e_windows_agent.rs`).
//!
//! Every call that can fail returns its Win32 error number in the message,
//! which is what a support engineer searches for.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr::{null, null_mut};

use chrono::{DateTime, Utc};
use windows_sys::Win32::Devices::DeviceAndDriverInstallation as dev;
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_BUFFER_OVERFLOW, ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_NO_MORE_ITEMS,
    ERROR_SUCCESS, GetLastError, INVALID_HANDLE_VALUE, LocalFree,
};
use windows_sys::Win32::NetworkManagement::IpHelper as ip;
use windows_sys::Win32::NetworkManagement::NetManagement as net;
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, AF_INET6, SOCKADDR_IN, SOCKADDR_IN6, SOCKET_ADDRESS,
};
use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
use windows_sys::Win32::Security::Cryptography as crypt;
use windows_sys::Win32::Security::{LookupAccountNameW, SID_NAME_USE};
use windows_sys::Win32::Storage::FileSystem as fs;
use windows_sys::Win32::System::Diagnostics::ToolHelp as th;
use windows_sys::Win32::System::Registry as reg;
use windows_sys::Win32::System::Services as svc;
use windows_sys::Win32::System::SystemInformation as sys;

use super::native::{
    AdapterRecord, CertRecord, DeviceRecord, OsRecord, RegValue, ServiceRecord, ShareRecord,
    UserRecord, wide_to_string,
};

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A NUL-terminated UTF-16 string owned by the API (may be null).
///
/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string.
unsafe fn from_pwstr(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller promises a terminated string.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

fn last_error(what: &str) -> String {
    // SAFETY: no preconditions.
    format!("{what} failed (Win32 error {})", unsafe { GetLastError() })
}

// ---------------------------------------------------------------- OS, disk

fn reg_string(root: reg::HKEY, key: &str, value: &str) -> Option<String> {
    let (key, value) = (wide(key), wide(value));
    let mut buf = [0u16; 512];
    let mut size = (buf.len() * 2) as u32;
    // SAFETY: buffers and sizes match; RRF_RT_REG_SZ NUL-terminates.
    let rc = unsafe {
        reg::RegGetValueW(
            root,
            key.as_ptr(),
            value.as_ptr(),
            reg::RRF_RT_REG_SZ,
            null_mut(),
            buf.as_mut_ptr().cast(),
            &mut size,
        )
    };
    (rc == ERROR_SUCCESS).then(|| wide_to_string(&buf))
}

fn reg_dword(root: reg::HKEY, key: &str, value: &str) -> Option<u32> {
    let (key, value) = (wide(key), wide(value));
    let mut data = 0u32;
    let mut size = 4u32;
    // SAFETY: a u32 buffer of 4 bytes for a REG_DWORD.
    let rc = unsafe {
        reg::RegGetValueW(
            root,
            key.as_ptr(),
            value.as_ptr(),
            reg::RRF_RT_REG_DWORD,
            null_mut(),
            (&mut data as *mut u32).cast(),
            &mut size,
        )
    };
    (rc == ERROR_SUCCESS).then_some(data)
}

fn version_part(root: reg::HKEY, key: &str, index: usize) -> Option<u32> {
    reg_string(root, key, "CurrentVersion")?
        .split('.')
        .nth(index)?
        .trim()
        .parse()
        .ok()
}

pub fn os(now: DateTime<Utc>) -> Result<OsRecord, String> {
    const CV: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";
    let mut buf = [0u16; 256];
    let mut len = buf.len() as u32;
    // SAFETY: `len` is the buffer's size in characters.
    let ok =
        unsafe { sys::GetComputerNameExW(sys::ComputerNameNetBIOS, buf.as_mut_ptr(), &mut len) };
    if ok == 0 {
        return Err(last_error("GetComputerNameExW"));
    }
    // SAFETY: no preconditions. Milliseconds since boot; with Fast Startup
    // a shutdown does not reset it, exactly as Win32_OperatingSystem's
    // LastBootUpTime behaves (the guide asks for a restart, not a shutdown).
    let uptime_ms = unsafe { sys::GetTickCount64() };
    let hklm = reg::HKEY_LOCAL_MACHINE;
    Ok(OsRecord {
        computer_name: wide_to_string(&buf[..len as usize]),
        product_name: reg_string(hklm, CV, "ProductName").unwrap_or_else(|| "Windows".into()),
        // Windows 10 and 11 have the numbers; older ones (and Wine) only
        // the text "6.1".
        major: reg_dword(hklm, CV, "CurrentMajorVersionNumber")
            .or_else(|| version_part(hklm, CV, 0))
            .unwrap_or(0),
        minor: reg_dword(hklm, CV, "CurrentMinorVersionNumber")
            .or_else(|| version_part(hklm, CV, 1))
            .unwrap_or(0),
        build: reg_string(hklm, CV, "CurrentBuildNumber")
            .and_then(|b| b.trim().parse().ok())
            .unwrap_or(0),
        boot_time: i64::try_from(uptime_ms)
            .ok()
            .map(|ms| now - chrono::Duration::milliseconds(ms)),
        now,
    })
}

pub fn disk() -> Result<(String, u64, u64), String> {
    let drive = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".into());
    let root = wide(&format!("{drive}\\"));
    let (mut avail, mut total, mut free) = (0u64, 0u64, 0u64);
    // SAFETY: three u64 out-parameters.
    let ok = unsafe { fs::GetDiskFreeSpaceExW(root.as_ptr(), &mut avail, &mut total, &mut free) };
    if ok == 0 {
        return Err(last_error("GetDiskFreeSpaceExW"));
    }
    Ok((drive, free, total))
}

// ------------------------------------------------------------ PnP devices

/// A device's string property, or "" when it has none.
///
/// # Safety
/// `set` and `data` come from SetupDiGetClassDevsW / SetupDiEnumDeviceInfo.
unsafe fn device_property(set: dev::HDEVINFO, data: &dev::SP_DEVINFO_DATA, prop: u32) -> String {
    let mut buf = [0u16; 512];
    // SAFETY: the buffer size is given in bytes; a longer value fails and
    // reads as "" (names and classes are far shorter).
    let ok = unsafe {
        dev::SetupDiGetDeviceRegistryPropertyW(
            set,
            data,
            prop,
            null_mut(),
            buf.as_mut_ptr().cast(),
            (buf.len() * 2) as u32,
            null_mut(),
        )
    };
    if ok == 0 {
        String::new()
    } else {
        wide_to_string(&buf)
    }
}

/// Every device Windows knows, connected or not, as `Get-PnpDevice` lists
/// them (a reader that is switched off stays in the list as not present).
pub fn devices() -> Result<Vec<DeviceRecord>, String> {
    // SAFETY: null class and enumerator with DIGCF_ALLCLASSES: all devices.
    let set =
        unsafe { dev::SetupDiGetClassDevsW(null(), null(), null_mut(), dev::DIGCF_ALLCLASSES) };
    if set == INVALID_HANDLE_VALUE as dev::HDEVINFO {
        return Err(last_error("SetupDiGetClassDevsW"));
    }
    let mut out = Vec::new();
    for index in 0.. {
        let mut data = dev::SP_DEVINFO_DATA {
            cbSize: std::mem::size_of::<dev::SP_DEVINFO_DATA>() as u32,
            ..Default::default()
        };
        // SAFETY: `data.cbSize` is set as the API requires.
        if unsafe { dev::SetupDiEnumDeviceInfo(set, index, &mut data) } == 0 {
            break; // ERROR_NO_MORE_ITEMS
        }
        let mut id = [0u16; 512];
        // SAFETY: the size is in characters.
        unsafe {
            dev::SetupDiGetDeviceInstanceIdW(
                set,
                &data,
                id.as_mut_ptr(),
                id.len() as u32,
                null_mut(),
            )
        };
        let (mut status, mut problem) = (0u32, 0u32);
        // SAFETY: DevInst comes from the enumeration above.
        let cr = unsafe { dev::CM_Get_DevNode_Status(&mut status, &mut problem, data.DevInst, 0) };
        let present = cr == dev::CR_SUCCESS;
        let friendly = unsafe { device_property(set, &data, dev::SPDRP_FRIENDLYNAME) };
        out.push(DeviceRecord {
            class: unsafe { device_property(set, &data, dev::SPDRP_CLASS) },
            // Get-PnpDevice falls back to the description when a device has
            // no friendly name (most USB devices).
            friendly_name: if friendly.is_empty() {
                unsafe { device_property(set, &data, dev::SPDRP_DEVICEDESC) }
            } else {
                friendly
            },
            instance_id: wide_to_string(&id),
            manufacturer: unsafe { device_property(set, &data, dev::SPDRP_MFG) },
            present,
            problem: (present && status & dev::DN_HAS_PROBLEM != 0).then_some(problem),
        });
    }
    // SAFETY: `set` is a valid device information set.
    unsafe { dev::SetupDiDestroyDeviceInfoList(set) };
    Ok(out)
}

// ------------------------------------------------------ processes, services

pub fn processes() -> Result<Vec<(String, u32)>, String> {
    // SAFETY: a process snapshot, closed below.
    let snap = unsafe { th::CreateToolhelp32Snapshot(th::TH32CS_SNAPPROCESS, 0) };
    if snap == INVALID_HANDLE_VALUE {
        return Err(last_error("CreateToolhelp32Snapshot"));
    }
    let mut entry = th::PROCESSENTRY32W {
        dwSize: std::mem::size_of::<th::PROCESSENTRY32W>() as u32,
        ..Default::default()
    };
    let mut out = Vec::new();
    // SAFETY: `entry.dwSize` is set as the API requires.
    let mut more = unsafe { th::Process32FirstW(snap, &mut entry) } != 0;
    while more {
        out.push((wide_to_string(&entry.szExeFile), entry.th32ProcessID));
        // SAFETY: as above.
        more = unsafe { th::Process32NextW(snap, &mut entry) } != 0;
    }
    // SAFETY: `snap` is a handle we own.
    unsafe { CloseHandle(snap) };
    Ok(out)
}

pub fn services() -> Result<Vec<ServiceRecord>, String> {
    // SAFETY: local service manager, enumerate right only.
    let scm = unsafe { svc::OpenSCManagerW(null(), null(), svc::SC_MANAGER_ENUMERATE_SERVICE) };
    if scm.is_null() {
        return Err(last_error("OpenSCManagerW"));
    }
    let mut buf: Vec<u64> = vec![0; 32 * 1024]; // 256 KiB, 8-byte aligned
    let mut out = Vec::new();
    let mut resume = 0u32;
    let result = loop {
        let (mut needed, mut count) = (0u32, 0u32);
        // SAFETY: the buffer is `buf.len() * 8` bytes and aligned for the
        // ENUM_SERVICE_STATUS_PROCESSW records written into it.
        let ok = unsafe {
            svc::EnumServicesStatusExW(
                scm,
                svc::SC_ENUM_PROCESS_INFO,
                svc::SERVICE_WIN32,
                svc::SERVICE_STATE_ALL,
                buf.as_mut_ptr().cast(),
                (buf.len() * 8) as u32,
                &mut needed,
                &mut count,
                &mut resume,
                null(),
            )
        };
        // SAFETY: as above.
        let err = if ok == 0 {
            unsafe { GetLastError() }
        } else {
            0
        };
        if ok == 0 && err != ERROR_MORE_DATA {
            break Err(format!("EnumServicesStatusExW failed (Win32 error {err})"));
        }
        let records = buf.as_ptr().cast::<svc::ENUM_SERVICE_STATUS_PROCESSW>();
        for i in 0..count as usize {
            // SAFETY: the API wrote `count` records at the buffer's start.
            let r = unsafe { &*records.add(i) };
            out.push(ServiceRecord {
                name: unsafe { from_pwstr(r.lpServiceName) },
                display_name: unsafe { from_pwstr(r.lpDisplayName) },
                state: r.ServiceStatusProcess.dwCurrentState,
            });
        }
        if ok != 0 {
            break Ok(out);
        }
        if count == 0 {
            // More data but nothing fitted: grow the buffer and go on.
            buf = vec![0; (needed as usize).div_ceil(8) + 1024];
        }
    };
    // SAFETY: `scm` is a handle we own.
    unsafe { svc::CloseServiceHandle(scm) };
    result
}

// ------------------------------------------------------------ certificates

/// The public certificates of a system store like `LocalMachine\My`
/// (read-only; a private key is never opened, only whether one exists).
pub fn certificates(stores: &[String]) -> Result<Vec<CertRecord>, String> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for store in stores {
        let Some((location, name)) = store.split_once('\\') else {
            errors.push(format!("{store}: expected LOCATION\\NAME"));
            continue;
        };
        let location = match location.to_ascii_lowercase().as_str() {
            "localmachine" => crypt::CERT_SYSTEM_STORE_LOCAL_MACHINE,
            "currentuser" => crypt::CERT_SYSTEM_STORE_CURRENT_USER,
            _ => {
                errors.push(format!("{store}: unknown store location"));
                continue;
            }
        };
        let name_w = wide(name);
        // SAFETY: CERT_STORE_PROV_SYSTEM_W takes the store name as a wide
        // string; the store is opened read-only and only if it exists.
        let handle = unsafe {
            crypt::CertOpenStore(
                crypt::CERT_STORE_PROV_SYSTEM_W,
                0,
                0,
                location | crypt::CERT_STORE_READONLY_FLAG | crypt::CERT_STORE_OPEN_EXISTING_FLAG,
                name_w.as_ptr().cast(),
            )
        };
        if handle.is_null() {
            // SAFETY: no preconditions.
            match unsafe { GetLastError() } {
                // A store that does not exist holds no certificate.
                ERROR_FILE_NOT_FOUND => {}
                err => errors.push(format!("CertOpenStore({store}) failed (Win32 error {err})")),
            }
            continue;
        }
        let mut ctx: *const crypt::CERT_CONTEXT = null();
        loop {
            // SAFETY: passing the previous context frees it and returns the next.
            ctx = unsafe { crypt::CertEnumCertificatesInStore(handle, ctx) };
            if ctx.is_null() {
                break;
            }
            // SAFETY: a valid context from the enumeration.
            let c = unsafe { &*ctx };
            let der =
                unsafe { std::slice::from_raw_parts(c.pbCertEncoded, c.cbCertEncoded as usize) }
                    .to_vec();
            let mut name_buf = [0u16; 256];
            let mut size = (name_buf.len() * 2) as u32;
            // SAFETY: byte size of the buffer is given.
            let friendly_name = if unsafe {
                crypt::CertGetCertificateContextProperty(
                    ctx,
                    crypt::CERT_FRIENDLY_NAME_PROP_ID,
                    name_buf.as_mut_ptr().cast(),
                    &mut size,
                )
            } != 0
            {
                wide_to_string(&name_buf)
            } else {
                String::new()
            };
            let mut key_size = 0u32;
            // SAFETY: a size query (null buffer) only tells whether the
            // certificate has key information; the key is not touched.
            let has_private_key = unsafe {
                crypt::CertGetCertificateContextProperty(
                    ctx,
                    crypt::CERT_KEY_PROV_INFO_PROP_ID,
                    null_mut(),
                    &mut key_size,
                )
            } != 0;
            out.push(CertRecord {
                store: store.clone(),
                der,
                friendly_name,
                has_private_key,
            });
        }
        // SAFETY: the store handle we opened.
        unsafe { crypt::CertCloseStore(handle, 0) };
    }
    if out.is_empty() && !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(out)
}

// ---------------------------------------------------------------- accounts

fn sid_of(name: &str) -> String {
    let name_w = wide(name);
    let mut sid = [0u8; 256];
    let mut sid_len = sid.len() as u32;
    let mut domain = [0u16; 256];
    let mut domain_len = domain.len() as u32;
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: buffer sizes are given (bytes for the SID, characters for the domain).
    let ok = unsafe {
        LookupAccountNameW(
            null(),
            name_w.as_ptr(),
            sid.as_mut_ptr().cast(),
            &mut sid_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    };
    if ok == 0 {
        return String::new();
    }
    // SAFETY: LookupAccountNameW wrote a valid SID into `sid`.
    unsafe { sid_string(sid.as_mut_ptr().cast()) }
}

/// `S-1-5-21-…` for a SID, or "" when it cannot be converted.
///
/// # Safety
/// `sid` points to a valid SID.
unsafe fn sid_string(sid: windows_sys::Win32::Security::PSID) -> String {
    let mut text: *mut u16 = null_mut();
    // SAFETY: the caller's SID; the string is freed with LocalFree.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return String::new();
    }
    let s = unsafe { from_pwstr(text) };
    unsafe { LocalFree(text.cast()) };
    s
}

/// Local accounts with the age of their password: the names from a level-0
/// enumeration (every Windows answers it), then level 1 of each, the lowest
/// level with the age and the disabled flag. Level 1's password field is
/// always empty (Windows does not give passwords out) and is not read.
pub fn users() -> Result<Vec<UserRecord>, String> {
    let mut names = Vec::new();
    let mut resume = 0u32;
    loop {
        let mut buf: *mut u8 = null_mut();
        let (mut read, mut total) = (0u32, 0u32);
        // SAFETY: the API allocates `buf`; it is freed with NetApiBufferFree.
        let rc = unsafe {
            net::NetUserEnum(
                null(),
                0,
                net::FILTER_NORMAL_ACCOUNT,
                &mut buf,
                u32::MAX,
                &mut read,
                &mut total,
                &mut resume,
            )
        };
        if rc != 0 && rc != ERROR_MORE_DATA {
            return Err(format!("NetUserEnum failed (error {rc})"));
        }
        let records = buf.cast::<net::USER_INFO_0>();
        for i in 0..read as usize {
            // SAFETY: the API wrote `read` records.
            names.push(unsafe { from_pwstr((*records.add(i)).usri0_name) });
        }
        if !buf.is_null() {
            unsafe { net::NetApiBufferFree(buf.cast()) };
        }
        if rc == 0 {
            break;
        }
    }
    names.into_iter().map(|name| user_info(&name)).collect()
}

/// One account: level 4 (SID, last logon, password age, "must change"),
/// else level 1 and the SID looked up by name (Wine knows only level 1).
/// Levels 1 and 4 have a password field; it is always empty (Windows does
/// not give passwords out) and is not read.
fn user_info(name: &str) -> Result<UserRecord, String> {
    let name_w = wide(name);
    let mut buf: *mut u8 = null_mut();
    // SAFETY: the API allocates `buf`, freed with NetApiBufferFree below.
    let rc = unsafe { net::NetUserGetInfo(null(), name_w.as_ptr(), 4, &mut buf) };
    if rc == 0 && !buf.is_null() {
        // SAFETY: the API wrote one USER_INFO_4.
        let u = unsafe { &*buf.cast::<net::USER_INFO_4>() };
        // SAFETY: a SID inside the buffer, which is still allocated.
        let sid = unsafe { sid_string(u.usri4_user_sid) };
        let record = UserRecord {
            name: name.to_owned(),
            sid,
            enabled: u.usri4_flags & net::UF_ACCOUNTDISABLE == 0,
            password_age_secs: (u.usri4_password_expired == 0).then_some(u.usri4_password_age),
            last_logon: u.usri4_last_logon,
            comment: unsafe { from_pwstr(u.usri4_comment) },
        };
        unsafe { net::NetApiBufferFree(buf.cast()) };
        return Ok(record);
    }
    if !buf.is_null() {
        unsafe { net::NetApiBufferFree(buf.cast()) };
    }
    let mut buf: *mut u8 = null_mut();
    // SAFETY: as above, one USER_INFO_1.
    let rc = unsafe { net::NetUserGetInfo(null(), name_w.as_ptr(), 1, &mut buf) };
    if rc != 0 || buf.is_null() {
        return Err(format!("NetUserGetInfo({name}) failed (error {rc})"));
    }
    // SAFETY: the API wrote one USER_INFO_1.
    let u = unsafe { &*buf.cast::<net::USER_INFO_1>() };
    let record = UserRecord {
        name: name.to_owned(),
        sid: sid_of(name),
        enabled: u.usri1_flags & net::UF_ACCOUNTDISABLE == 0,
        password_age_secs: Some(u.usri1_password_age),
        last_logon: 0,
        comment: unsafe { from_pwstr(u.usri1_comment) },
    };
    unsafe { net::NetApiBufferFree(buf.cast()) };
    Ok(record)
}

// ----------------------------------------------------------------- network

pub fn shares() -> Result<Vec<ShareRecord>, String> {
    let mut buf: *mut u8 = null_mut();
    let (mut read, mut total, mut resume) = (0u32, 0u32, 0u32);
    // SAFETY: the API allocates `buf` (all entries at once with u32::MAX).
    let rc = unsafe {
        fs::NetShareEnum(
            null(),
            2,
            &mut buf,
            u32::MAX,
            &mut read,
            &mut total,
            &mut resume,
        )
    };
    if rc != 0 {
        if !buf.is_null() {
            unsafe { net::NetApiBufferFree(buf.cast()) };
        }
        return Err(format!("NetShareEnum failed (error {rc})"));
    }
    let records = buf.cast::<fs::SHARE_INFO_2>();
    let out = (0..read as usize)
        .map(|i| {
            // SAFETY: the API wrote `read` records.
            let s = unsafe { &*records.add(i) };
            ShareRecord {
                name: unsafe { from_pwstr(s.shi2_netname) },
                path: unsafe { from_pwstr(s.shi2_path) },
                remark: unsafe { from_pwstr(s.shi2_remark) },
                kind: s.shi2_type,
            }
        })
        .collect();
    if !buf.is_null() {
        unsafe { net::NetApiBufferFree(buf.cast()) };
    }
    Ok(out)
}

fn socket_ip(a: &SOCKET_ADDRESS) -> Option<IpAddr> {
    if a.lpSockaddr.is_null() {
        return None;
    }
    // SAFETY: lpSockaddr points to a sockaddr of iSockaddrLength bytes whose
    // family says which layout it has.
    unsafe {
        match (*a.lpSockaddr).sa_family {
            AF_INET => {
                let v4 = &*a.lpSockaddr.cast::<SOCKADDR_IN>();
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    v4.sin_addr.S_un.S_addr,
                ))))
            }
            AF_INET6 => {
                let v6 = &*a.lpSockaddr.cast::<SOCKADDR_IN6>();
                Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.u.Byte)))
            }
            _ => None,
        }
    }
}

/// Connected interfaces (as `Get-NetIPConfiguration` lists by default):
/// IPv4 addresses, IPv4 default gateways, DNS servers.
pub fn adapters() -> Result<Vec<AdapterRecord>, String> {
    let mut buf: Vec<u64> = vec![0; 16 * 1024 / 8];
    let flags =
        ip::GAA_FLAG_INCLUDE_GATEWAYS | ip::GAA_FLAG_SKIP_ANYCAST | ip::GAA_FLAG_SKIP_MULTICAST;
    let mut rc = ERROR_BUFFER_OVERFLOW;
    for _ in 0..3 {
        let mut size = (buf.len() * 8) as u32;
        // SAFETY: the buffer is `size` bytes, 8-byte aligned.
        rc = unsafe {
            ip::GetAdaptersAddresses(
                u32::from(windows_sys::Win32::Networking::WinSock::AF_UNSPEC),
                flags,
                null(),
                buf.as_mut_ptr().cast(),
                &mut size,
            )
        };
        if rc != ERROR_BUFFER_OVERFLOW {
            break;
        }
        buf = vec![0; (size as usize).div_ceil(8)];
    }
    if rc == ERROR_NO_MORE_ITEMS || rc == windows_sys::Win32::Foundation::ERROR_NO_DATA {
        return Ok(Vec::new());
    }
    if rc != ERROR_SUCCESS {
        return Err(format!("GetAdaptersAddresses failed (error {rc})"));
    }
    let mut out = Vec::new();
    let mut p = buf.as_ptr().cast::<ip::IP_ADAPTER_ADDRESSES_LH>();
    while !p.is_null() {
        // SAFETY: a linked list inside `buf`, written by the API.
        let a = unsafe { &*p };
        p = a.Next;
        // Get-NetIPConfiguration shows connected, non-virtual interfaces:
        // no loopback, no tunnels (Teredo, IP-HTTPS, ISATAP).
        if a.OperStatus != windows_sys::Win32::NetworkManagement::Ndis::IfOperStatusUp
            || a.IfType == ip::IF_TYPE_SOFTWARE_LOOPBACK
            || a.IfType == ip::IF_TYPE_TUNNEL
        {
            continue;
        }
        let v4 = |list: Vec<IpAddr>| -> Vec<String> {
            list.into_iter()
                .filter(IpAddr::is_ipv4)
                .map(|ip| ip.to_string())
                .collect()
        };
        // SAFETY: each list is linked inside `buf`, written by the API.
        let (unicast, gateways, dns) = unsafe {
            (
                linked_addresses(a.FirstUnicastAddress, |x| (x.Next, &x.Address)),
                linked_addresses(a.FirstGatewayAddress, |x| (x.Next, &x.Address)),
                linked_addresses(a.FirstDnsServerAddress, |x| (x.Next, &x.Address)),
            )
        };
        out.push(AdapterRecord {
            alias: unsafe { from_pwstr(a.FriendlyName) },
            // SAFETY: the union's IfIndex member is what the API fills; it
            // is 0 on an adapter without IPv4.
            index: match unsafe { a.Anonymous1.Anonymous.IfIndex } {
                0 => a.Ipv6IfIndex,
                i => i,
            },
            ipv4: v4(unicast),
            gateways: v4(gateways),
            // Get-NetIPConfiguration lists IPv4 and IPv6 DNS servers.
            dns: dns.into_iter().map(|ip| ip.to_string()).collect(),
        });
    }
    Ok(out)
}

/// The addresses of one of GetAdaptersAddresses' linked lists (unicast,
/// gateway, DNS: different node types, each with `Next` and `Address`).
///
/// # Safety
/// `first` is null or the head of a list the API wrote and that is alive.
unsafe fn linked_addresses<T>(
    first: *mut T,
    node: impl Fn(&T) -> (*mut T, &SOCKET_ADDRESS),
) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut p = first;
    while !p.is_null() {
        // SAFETY: a node of the caller's list.
        let (next, address) = node(unsafe { &*p });
        out.extend(socket_ip(address));
        p = next;
    }
    out
}

// ---------------------------------------------------------------- registry

/// All string and DWORD values of a key given as `HKU\...`, `HKCU\...` or
/// `HKLM\...` (what `reg query KEY` prints, without subkeys).
pub fn registry_values(key: &str) -> Result<Vec<(String, RegValue)>, String> {
    let (root, sub) = key.split_once('\\').unwrap_or((key, ""));
    let root = match root.to_ascii_uppercase().as_str() {
        "HKU" | "HKEY_USERS" => reg::HKEY_USERS,
        "HKCU" | "HKEY_CURRENT_USER" => reg::HKEY_CURRENT_USER,
        "HKLM" | "HKEY_LOCAL_MACHINE" => reg::HKEY_LOCAL_MACHINE,
        other => return Err(format!("unsupported registry root {other}")),
    };
    let sub_w = wide(sub);
    let mut hkey: reg::HKEY = null_mut();
    // SAFETY: read-only open of an existing key, closed below.
    let rc =
        unsafe { reg::RegOpenKeyExW(root, sub_w.as_ptr(), 0, reg::KEY_QUERY_VALUE, &mut hkey) };
    if rc != ERROR_SUCCESS {
        return Err(format!(
            "the registry key {key} cannot be opened (error {rc})"
        ));
    }
    let mut out = Vec::new();
    for index in 0.. {
        let mut name = [0u16; 256];
        let mut name_len = name.len() as u32;
        let mut kind = 0u32;
        let mut data = [0u8; 2048];
        let mut data_len = data.len() as u32;
        // SAFETY: sizes in characters (name) and bytes (data).
        let rc = unsafe {
            reg::RegEnumValueW(
                hkey,
                index,
                name.as_mut_ptr(),
                &mut name_len,
                null(),
                &mut kind,
                data.as_mut_ptr(),
                &mut data_len,
            )
        };
        if rc == ERROR_NO_MORE_ITEMS {
            break;
        }
        if rc == ERROR_MORE_DATA {
            continue; // a value larger than 2 KiB: not one the probes read
        }
        if rc != ERROR_SUCCESS {
            // E.g. ERROR_KEY_DELETED when a policy refresh rewrites the key:
            // every later index would fail the same way.
            // SAFETY: the key we opened.
            unsafe { reg::RegCloseKey(hkey) };
            return Err(format!(
                "reading the registry key {key} failed (error {rc})"
            ));
        }
        let name = wide_to_string(&name[..name_len as usize]);
        let value = match kind {
            reg::REG_SZ | reg::REG_EXPAND_SZ => {
                let units: Vec<u16> = data[..data_len as usize]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                RegValue::Text(wide_to_string(&units))
            }
            reg::REG_DWORD if data_len >= 4 => {
                RegValue::Dword(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
            }
            _ => continue,
        };
        out.push((name, value));
    }
    // SAFETY: the key we opened.
    unsafe { reg::RegCloseKey(hkey) };
    Ok(out)
}
