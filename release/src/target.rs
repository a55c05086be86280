//! The platforms an agent binary is built for: a closed set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ReleaseError;

/// What an agent binary runs on. The string forms (`windows-x86_64`,
/// `linux-x86_64`) are the manifest's, the database's and the CLI's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(type_name = "text"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Target {
    #[serde(rename = "windows-x86_64")]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "windows-x86_64"))]
    #[cfg_attr(feature = "clap", value(name = "windows-x86_64"))]
    WindowsX86_64,
    #[serde(rename = "linux-x86_64")]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "linux-x86_64"))]
    #[cfg_attr(feature = "clap", value(name = "linux-x86_64"))]
    LinuxX86_64,
}

/// x86-64 in an ELF header (`e_machine`) and in a PE header (`Machine`).
const ELF_X86_64: u16 = 0x3E;
const PE_AMD64: u16 = 0x8664;
/// Bytes of a binary's start that [`Target::check_executable`] needs.
pub const HEADER_BYTES: usize = 4096;

impl Target {
    pub const ALL: [Target; 2] = [Target::WindowsX86_64, Target::LinuxX86_64];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::WindowsX86_64 => "windows-x86_64",
            Target::LinuxX86_64 => "linux-x86_64",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Target::WindowsX86_64 => "Windows (x86_64)",
            Target::LinuxX86_64 => "Linux (x86_64)",
        }
    }

    /// The target of the running build, if releases exist for it.
    pub fn current() -> Option<Target> {
        if cfg!(all(windows, target_arch = "x86_64")) {
            Some(Target::WindowsX86_64)
        } else if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            Some(Target::LinuxX86_64)
        } else {
            None
        }
    }

    /// The agent's file name on this target.
    pub fn executable_name(self) -> &'static str {
        match self {
            Target::WindowsX86_64 => "onshi-agent.exe",
            Target::LinuxX86_64 => "onshi-agent",
        }
    }

    /// Checks that `head` (the first [`HEADER_BYTES`] of a file, or all of
    /// it) starts an x86-64 executable of this target's format: a PE for
    /// Windows, an ELF for Linux. A signed manifest already names the
    /// target; this catches a signer's mistake before a PC runs the file.
    pub fn check_executable(self, head: &[u8]) -> Result<(), ReleaseError> {
        let refuse = |why: &str| ReleaseError::NotExecutable {
            target: self.to_string(),
            why: why.to_owned(),
        };
        let u16_at = |at: usize| {
            head.get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        match self {
            Target::LinuxX86_64 => {
                if !head.starts_with(b"\x7fELF") {
                    return Err(refuse("no ELF header"));
                }
                // EI_CLASS 2 = 64-bit, EI_DATA 1 = little endian.
                if head.get(4) != Some(&2) || head.get(5) != Some(&1) {
                    return Err(refuse("not a 64-bit little-endian ELF"));
                }
                match u16_at(18) {
                    Some(ELF_X86_64) => Ok(()),
                    _ => Err(refuse("ELF for another machine than x86-64")),
                }
            }
            Target::WindowsX86_64 => {
                if !head.starts_with(b"MZ") {
                    return Err(refuse("no MZ header"));
                }
                let pe = head
                    .get(0x3C..0x40)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                    .ok_or_else(|| refuse("header too short"))?;
                if head.get(pe..pe + 4) != Some(b"PE\0\0".as_slice()) {
                    return Err(refuse("no PE signature"));
                }
                match u16_at(pe + 4) {
                    Some(PE_AMD64) => Ok(()),
                    _ => Err(refuse("PE for another machine than x86-64")),
                }
            }
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = ReleaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                ReleaseError::Malformed(format!(
                    "unknown target {s:?} (windows-x86_64 or linux-x86_64)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    fn pe(machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 0x200];
        h[..2].copy_from_slice(b"MZ");
        h[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        h[0x80..0x84].copy_from_slice(b"PE\0\0");
        h[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
        h
    }

    #[test]
    fn executables_are_recognised_per_target() {
        let linux = Target::LinuxX86_64;
        let windows = Target::WindowsX86_64;
        assert_eq!(linux.check_executable(&elf(0x3E)), Ok(()));
        assert_eq!(windows.check_executable(&pe(0x8664)), Ok(()));
        // Each refuses the other's format, other machines, scripts and stubs.
        assert!(linux.check_executable(&pe(0x8664)).is_err());
        assert!(windows.check_executable(&elf(0x3E)).is_err());
        assert!(linux.check_executable(&elf(0xB7)).is_err(), "aarch64");
        assert!(windows.check_executable(&pe(0x014C)).is_err(), "i386");
        assert!(linux.check_executable(b"#!/bin/sh\nexit 0\n").is_err());
        assert!(windows.check_executable(b"MZ").is_err());
        assert!(linux.check_executable(b"").is_err());
        let mut pe_out_of_range = pe(0x8664);
        pe_out_of_range[0x3C..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(windows.check_executable(&pe_out_of_range).is_err());
    }

    #[test]
    fn names_round_trip() {
        for t in Target::ALL {
            assert_eq!(t.as_str().parse::<Target>().unwrap(), t);
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        assert!("macos-arm64".parse::<Target>().is_err());
    }

    #[test]
    fn this_build_has_a_target() {
        if cfg!(target_arch = "x86_64") && (cfg!(windows) || cfg!(target_os = "linux")) {
            assert!(Target::current().is_some());
        }
    }
}
