//! IP configuration (addresses, gateway, DNS) and its drift from the
//! baseline taken at installation (guide 1-4-2: re-cabling or a line change
//! without NTT East breaks the receipt link and the reader).

use serde::{Deserialize, Serialize};

use super::ps;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    pub addresses: Vec<String>,
    pub gateway: String,
    pub dns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpConfigInfo {
    #[serde(flatten)]
    pub current: IpConfig,
    pub baseline_known: bool,
    pub drifted: bool,
    /// What changed, e.g. "gateway 10.51.1.1 → 192.168.1.1".
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Iface {
    addresses: Vec<String>,
    gateways: Vec<String>,
    dns: Vec<String>,
}

/// Output of
/// `Get-NetIPConfiguration | ForEach-Object { [pscustomobject]@{ InterfaceAlias=$_.InterfaceAlias;
/// IPv4Address=@($_.IPv4Address.IPAddress); IPv4DefaultGateway=@($_.IPv4DefaultGateway.NextHop);
/// DNSServer=@($_.DNSServer.ServerAddresses) } } | ConvertTo-Json`.
/// The オン資 interface is the one with a default gateway.
pub fn parse_windows(text: &str) -> Result<IpConfig, String> {
    let list = |v: &serde_json::Value, key: &str| -> Vec<String> {
        match v.get(key) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let ifaces: Vec<Iface> = ps::items(text)?
        .iter()
        .map(|v| Iface {
            addresses: list(v, "IPv4Address"),
            gateways: list(v, "IPv4DefaultGateway"),
            dns: list(v, "DNSServer"),
        })
        .collect();
    Ok(combine(&ifaces))
}

fn combine(ifaces: &[Iface]) -> IpConfig {
    let with_gateway: Vec<&Iface> = ifaces.iter().filter(|i| !i.gateways.is_empty()).collect();
    let chosen: Vec<&Iface> = if with_gateway.is_empty() {
        ifaces.iter().collect()
    } else {
        with_gateway
    };
    let mut c = IpConfig::default();
    for i in chosen {
        c.addresses
            .extend(i.addresses.iter().filter(|a| usable(a)).cloned());
        if c.gateway.is_empty() {
            c.gateway = i.gateways.first().cloned().unwrap_or_default();
        }
        c.dns.extend(i.dns.iter().cloned());
    }
    normalise(c)
}

/// Loopback and link-local (APIPA) addresses say nothing about the site.
fn usable(a: &str) -> bool {
    !(a.starts_with("127.")
        || a.starts_with("169.254.")
        || a == "::1"
        || a.to_lowercase().starts_with("fe80"))
}

fn normalise(mut c: IpConfig) -> IpConfig {
    c.addresses.sort();
    c.addresses.dedup();
    // DNS order matters to Windows, but a reordering is not a site change.
    c.dns.sort();
    c.dns.dedup();
    c
}

/// Linux: `ip -o addr show`, `/proc/net/route`, `/etc/resolv.conf`.
pub fn parse_linux(ip_addr: &str, route: &str, resolv: &str) -> IpConfig {
    let addresses = ip_addr
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet" || *w == "inet6")?;
            let cidr = words.next()?;
            Some(cidr.split('/').next().unwrap_or(cidr).to_owned())
        })
        .filter(|a| usable(a))
        .collect();
    let gateway = route
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[1] == "00000000").then(|| f[2])
        })
        .find_map(|hex| u32::from_str_radix(hex, 16).ok())
        .map(|g| std::net::Ipv4Addr::from(g.to_le_bytes()).to_string())
        .unwrap_or_default();
    let dns = resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    normalise(IpConfig {
        addresses,
        gateway,
        dns,
    })
}

pub fn compare(baseline: Option<&IpConfig>, current: IpConfig) -> IpConfigInfo {
    let mut changes = Vec::new();
    if let Some(b) = baseline {
        if b.addresses != current.addresses {
            changes.push(format!(
                "addresses {} → {}",
                b.addresses.join(","),
                current.addresses.join(",")
            ));
        }
        if b.gateway != current.gateway {
            changes.push(format!("gateway {} → {}", b.gateway, current.gateway));
        }
        if b.dns != current.dns {
            changes.push(format!(
                "dns {} → {}",
                b.dns.join(","),
                current.dns.join(",")
            ));
        }
    }
    IpConfigInfo {
        baseline_known: baseline.is_some(),
        drifted: !changes.is_empty(),
        changes,
        current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_single_interface_object_and_arrays() {
        let text = r#"{"InterfaceAlias":"イーサネット","IPv4Address":"10.51.1.2","IPv4DefaultGateway":["10.51.1.1"],"DNSServer":["10.51.1.1"]}"#;
        let c = parse_windows(text).unwrap();
        assert_eq!(
            c,
            IpConfig {
                addresses: vec!["10.51.1.2".into()],
                gateway: "10.51.1.1".into(),
                dns: vec!["10.51.1.1".into()]
            }
        );
    }

    #[test]
    fn linux_sources() {
        let ip = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n2: eth0    inet 10.51.1.2/24 brd 10.51.1.255 scope global eth0\n2: eth0    inet6 fe80::1/64 scope link\n";
        let route = "Iface\tDestination\tGateway \tFlags\nens3\t00000000\t0101330A\t0003\nens3\t0001330A\t00000000\t0001\n";
        let resolv = "# generated\nnameserver 10.51.1.1\nsearch local\n";
        let c = parse_linux(ip, route, resolv);
        assert_eq!(c.addresses, ["10.51.1.2"]);
        assert_eq!(c.gateway, "10.51.1.1");
        assert_eq!(c.dns, ["10.51.1.1"]);
    }

    #[test]
    fn drift_lists_what_changed() {
        let base = IpConfig {
            addresses: vec!["10.51.1.2".into()],
            gateway: "10.51.1.1".into(),
            dns: vec!["10.51.1.1".into()],
        };
        assert!(!compare(Some(&base), base.clone()).drifted);
        assert!(!compare(None, base.clone()).baseline_known);
        let mut moved = base.clone();
        moved.gateway = "192.168.1.1".into();
        let info = compare(Some(&base), moved);
        assert!(info.drifted);
        assert_eq!(info.changes, ["gateway 10.51.1.1 → 192.168.1.1"]);
    }
}
