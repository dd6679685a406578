//! A check of an ELF file's headers before `dlopen` maps it: a library cut
//! short inside a loadable segment makes the system loader fault (SIGBUS)
//! instead of failing, so the loader compares every `PT_LOAD` segment with
//! the file's size first.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// What is wrong with a file that is not a loadable library.
#[derive(Debug)]
pub(crate) enum Problem {
    /// Not ELF, not for this machine, or not a shared library.
    NotLoadable(String),
    /// The headers need more bytes than the file has.
    Truncated { needed: u64 },
    /// Reading failed.
    Io(io::Error),
}

impl From<io::Error> for Problem {
    fn from(error: io::Error) -> Self {
        Problem::Io(error)
    }
}

const ET_REL: u16 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
const PN_XNUM: u16 = 0xffff;

/// `e_machine` of this target, where known.
const MACHINE: Option<u16> = if cfg!(target_arch = "x86_64") {
    Some(62)
} else if cfg!(target_arch = "x86") {
    Some(3)
} else if cfg!(target_arch = "aarch64") {
    Some(183)
} else if cfg!(target_arch = "arm") {
    Some(40)
} else if cfg!(any(target_arch = "riscv64", target_arch = "riscv32")) {
    Some(243)
} else if cfg!(target_arch = "powerpc64") {
    Some(21)
} else if cfg!(target_arch = "powerpc") {
    Some(20)
} else if cfg!(target_arch = "s390x") {
    Some(22)
} else if cfg!(target_arch = "loongarch64") {
    Some(258)
} else {
    None
};

/// The header fields the check needs, in this target's word size and byte
/// order (a file in another is refused before they are read).
struct Reader {
    wide: bool,
}

impl Reader {
    fn u16(&self, bytes: &[u8], at: usize) -> u16 {
        let mut b = [0; 2];
        b.copy_from_slice(&bytes[at..at + 2]);
        u16::from_ne_bytes(b)
    }

    fn u32(&self, bytes: &[u8], at: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&bytes[at..at + 4]);
        u32::from_ne_bytes(b)
    }

    fn u64(&self, bytes: &[u8], at: usize) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_ne_bytes(b)
    }

    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, bytes: &[u8], at64: usize, at32: usize) -> u64 {
        if self.wide {
            self.u64(bytes, at64)
        } else {
            u64::from(self.u32(bytes, at32))
        }
    }
}

/// Checks that `file` (of `size` bytes) is a shared library for this machine
/// whose program headers and loadable segments lie within the file.
pub(crate) fn check(file: &mut File, size: u64) -> Result<(), Problem> {
    let wide = cfg!(target_pointer_width = "64");
    let header_size: u64 = if wide { 64 } else { 52 };
    if size == 0 {
        return Err(Problem::NotLoadable(String::from("the file is empty")));
    }
    let mut ident = [0u8; 16];
    let got = read_at(file, 0, &mut ident)?;
    if got < 4 || ident[..4] != *b"\x7fELF" {
        return Err(Problem::NotLoadable(String::from(
            "not an ELF file (no ELF magic at its start)",
        )));
    }
    if got < ident.len() {
        return Err(Problem::Truncated {
            needed: header_size,
        });
    }
    let class = if wide { 2 } else { 1 };
    if ident[4] != class {
        return Err(Problem::NotLoadable(format!(
            "ELF class {} (want {}-bit)",
            ident[4],
            if wide { 64 } else { 32 }
        )));
    }
    let data = if cfg!(target_endian = "little") { 1 } else { 2 };
    if ident[5] != data {
        return Err(Problem::NotLoadable(String::from(
            "ELF file of the other byte order",
        )));
    }
    if size < header_size {
        return Err(Problem::Truncated {
            needed: header_size,
        });
    }
    let mut header = vec![0u8; header_size as usize];
    read_exact_at(file, 0, &mut header)?;
    let r = Reader { wide };
    match r.u16(&header, 16) {
        ET_DYN => {}
        ET_EXEC => {
            return Err(Problem::NotLoadable(String::from(
                "an executable (ELF type EXEC), not a shared library",
            )));
        }
        ET_REL => {
            return Err(Problem::NotLoadable(String::from(
                "a relocatable object file, not a shared library",
            )));
        }
        other => {
            return Err(Problem::NotLoadable(format!(
                "ELF type {other}, not a shared library"
            )));
        }
    }
    let machine = r.u16(&header, 18);
    if let Some(expected) = MACHINE {
        if machine != expected {
            return Err(Problem::NotLoadable(format!(
                "built for ELF machine {machine}, this machine is {expected}"
            )));
        }
    }
    let phoff = r.word(&header, 32, 28);
    let (phentsize, phnum) = if wide {
        (r.u16(&header, 54), r.u16(&header, 56))
    } else {
        (r.u16(&header, 42), r.u16(&header, 44))
    };
    if phnum == PN_XNUM {
        return Err(Problem::NotLoadable(String::from(
            "more program headers than the ELF header can count",
        )));
    }
    let entry: u64 = if wide { 56 } else { 32 };
    if u64::from(phentsize) < entry {
        return Err(Problem::NotLoadable(format!(
            "program header entries of {phentsize} bytes"
        )));
    }
    let table = u64::from(phentsize) * u64::from(phnum);
    let table_end = phoff.saturating_add(table);
    if table_end > size {
        return Err(Problem::Truncated { needed: table_end });
    }
    let mut headers = vec![0u8; table as usize];
    read_exact_at(file, phoff, &mut headers)?;
    let mut loads = 0;
    let mut needed = 0u64;
    for entry in headers.chunks_exact(usize::from(phentsize)) {
        if r.u32(entry, 0) != PT_LOAD {
            continue;
        }
        loads += 1;
        let offset = r.word(entry, 8, 4);
        let filesz = r.word(entry, 32, 16);
        needed = needed.max(offset.saturating_add(filesz));
    }
    if loads == 0 {
        return Err(Problem::NotLoadable(String::from("no loadable segment")));
    }
    if needed > size {
        return Err(Problem::Truncated { needed });
    }
    Ok(())
}

/// Reads as much as there is, up to `buf.len()`, from `offset`.
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn read_exact_at(file: &mut File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bytes(bytes: &[u8]) -> Result<(), Problem> {
        let dir = std::env::temp_dir().join(format!("plugbus-elf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.bin", bytes.len()));
        std::fs::write(&path, bytes).unwrap();
        let mut file = File::open(&path).unwrap();
        let result = check(&mut file, bytes.len() as u64);
        std::fs::remove_file(&path).unwrap();
        result
    }

    #[test]
    fn refuses_non_elf() {
        assert!(matches!(check_bytes(b""), Err(Problem::NotLoadable(r)) if r.contains("empty")));
        assert!(
            matches!(check_bytes(b"#!/bin/sh\n"), Err(Problem::NotLoadable(r)) if r.contains("not an ELF"))
        );
        assert!(matches!(
            check_bytes(b"\x7fELF\x02\x01"),
            Err(Problem::Truncated { .. })
        ));
    }

    #[cfg(all(
        target_os = "linux",
        target_pointer_width = "64",
        target_endian = "little"
    ))]
    #[test]
    fn segment_past_the_end_is_truncated() {
        // A minimal ELF64 shared-object header with one PT_LOAD segment of
        // 4096 bytes at offset 0, in a file of 120 bytes.
        let mut bytes = vec![0u8; 120];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[16..18].copy_from_slice(&ET_DYN.to_le_bytes());
        bytes[18..20].copy_from_slice(&MACHINE.unwrap_or(62).to_le_bytes());
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
        bytes[56..58].copy_from_slice(&1u16.to_le_bytes());
        bytes[64..68].copy_from_slice(&PT_LOAD.to_le_bytes());
        bytes[96..104].copy_from_slice(&4096u64.to_le_bytes());
        assert!(matches!(
            check_bytes(&bytes),
            Err(Problem::Truncated { needed: 4096 })
        ));
        bytes[96..104].copy_from_slice(&120u64.to_le_bytes());
        assert!(check_bytes(&bytes).is_ok());
    }
}
