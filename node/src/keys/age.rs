//! The age file format, v1 (<https://age-encryption.org/v1>, <https://c2sp.org/age>),
//! with a passphrase: the one recipient type a key backup needs, so that a council can
//! decrypt its backup with the standard `age -d` or `rage -d` and no lgmesh at all.
//!
//! Here: the scrypt recipient stanza, the header and its MAC, and the STREAM payload of
//! 64 KiB ChaCha20-Poly1305 chunks, on the RustCrypto crates. Not here: X25519 and other
//! recipients, ASCII armor, plugins, and streaming. A key backup is a few kilobytes, so a
//! file is read whole and refused above [`MAX_FILE_BYTES`].
//!
//! Decryption follows the rules the specification gives a reader: the scrypt stanza
//! must be the only stanza, its salt 16 bytes, its work factor a decimal without leading
//! zeros and at most [`MAX_WORK_FACTOR`], its body 32 bytes (checked before anything is
//! decrypted); base64 must be canonical and unpadded; the header MAC is checked before
//! the payload is read; the payload must end with exactly one final chunk, which is not
//! empty unless the whole payload is. The test vectors of the reference implementation
//! (C2SP/CCTV, in `tests/fixtures/age-testkit/`) are run against it.
//!
//! ```
//! use lgmesh::keys::age;
//! let file = age::encrypt(b"hello", b"correct horse battery staple", 10)?;
//! assert_eq!(&age::decrypt(&file, b"correct horse battery staple")?[..], b"hello");
//! assert_eq!(age::decrypt(&file, b"wrong"), Err(age::AgeError::WrongPassphrase));
//! # Ok::<(), age::AgeError>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use hkdf::hmac::{Hmac, Mac};
use sha2_11::Sha256;
use zeroize::Zeroizing;

/// The largest age file read or written: 1 MiB. A key backup is a few kilobytes, and
/// the bound keeps a wrong file (or a crafted one) from being read into memory whole.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// The scrypt work factor (log2 N) of a new file: 18, as `age -p` uses. About a second
/// and 256 MiB of memory (128 · r · N bytes, r = 8) to derive the key, for whoever
/// guesses passphrases as for us.
pub const WORK_FACTOR: u8 = 18;

/// The largest work factor a file may ask for: 20, that is 1 GiB of memory and a few
/// seconds of CPU before the passphrase can even be checked. A file from elsewhere
/// could otherwise ask for 2^30 and more, and exhaust the machine; `age` itself
/// refuses above 22 by default, and writes 18.
pub const MAX_WORK_FACTOR: u8 = 20;

const VERSION_LINE: &[u8] = b"age-encryption.org/v1";
const VERSION_PREFIX: &[u8] = b"age-encryption.org/";
const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
/// Prefixed to the stanza's salt before scrypt, for domain separation.
const SCRYPT_LABEL: &[u8] = b"age-encryption.org/v1/scrypt";
/// Plaintext bytes per payload chunk.
const CHUNK: usize = 64 * 1024;
/// The Poly1305 tag after each chunk.
const TAG: usize = 16;
const FILE_KEY_LEN: usize = 16;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 16;
/// Stanza bodies are wrapped at this many base64 characters.
const COLUMNS: usize = 64;

type FileKey = Zeroizing<[u8; FILE_KEY_LEN]>;

/// Why a file could not be decrypted (or made). The messages say what is wrong in
/// words for whoever runs `lgmesh keys import`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgeError {
    /// Over [`MAX_FILE_BYTES`].
    #[error("{0} bytes, over the limit of {MAX_FILE_BYTES} for a key backup")]
    TooLarge(usize),
    /// Not an age file at all.
    #[error("not an age file (it does not begin with age-encryption.org/v1)")]
    NotAge,
    /// `age -a` output, which is not read here.
    #[error(
        "an ASCII-armored age file (age -a): decrypt it with age -d and encrypt it again without -a"
    )]
    Armored,
    /// A later version of the format.
    #[error("an age file of version {0:?}; this lgmesh reads v1")]
    Version(String),
    /// The header breaks the format's rules.
    #[error("damaged age header: {0}")]
    Header(&'static str),
    /// Encrypted to keys (`age -r`), not with a passphrase.
    #[error(
        "not encrypted with a passphrase (its recipient is {0}): make the file with age -p, or lgmesh keys export"
    )]
    NotPassphrase(String),
    /// A passphrase stanza beside another one: the specification has readers refuse
    /// this, since whoever holds the other recipient could have made the file.
    #[error("damaged age header: the passphrase stanza is not the only one, which age forbids")]
    NotAlone,
    /// A work factor over [`MAX_WORK_FACTOR`].
    #[error(
        "the file asks for scrypt work factor {0}, over the limit of {MAX_WORK_FACTOR} (2^20: 1 GiB of memory): refused rather than exhaust this machine"
    )]
    WorkFactor(String),
    /// The passphrase does not open the file key.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The header was changed after it was written.
    #[error("damaged age header: its MAC does not match")]
    HeaderMac,
    /// The encrypted contents are damaged, cut short or extended.
    #[error("damaged or truncated age file: {0}")]
    Payload(&'static str),
    /// The operating system gave no randomness.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// Encrypts `plaintext` under `passphrase` as an age v1 file, with scrypt work factor
/// `work_factor` (log2 N, 1 to [`MAX_WORK_FACTOR`]; [`WORK_FACTOR`] for real files).
/// Refuses a result over [`MAX_FILE_BYTES`], which [`decrypt`] would refuse.
pub fn encrypt(plaintext: &[u8], passphrase: &[u8], work_factor: u8) -> Result<Vec<u8>, AgeError> {
    if !(1..=MAX_WORK_FACTOR).contains(&work_factor) {
        return Err(AgeError::WorkFactor(work_factor.to_string()));
    }
    let chunks = plaintext.len().div_ceil(CHUNK).max(1);
    let size = 256 + NONCE_LEN + plaintext.len() + chunks * TAG;
    if size > MAX_FILE_BYTES {
        return Err(AgeError::TooLarge(size));
    }
    let mut file_key: FileKey = Zeroizing::new([0; FILE_KEY_LEN]);
    random(file_key.as_mut())?;
    let mut salt = [0; SALT_LEN];
    random(&mut salt)?;
    let mut nonce = [0; NONCE_LEN];
    random(&mut nonce)?;

    let wrap = wrap_key(passphrase, &salt, work_factor)?;
    let body = aead(&wrap)
        .encrypt(&Nonce::default(), file_key.as_ref())
        .map_err(|_| AgeError::Header("cannot wrap the file key"))?;

    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(VERSION_LINE);
    out.push(b'\n');
    out.extend_from_slice(format!("-> scrypt {} {work_factor}\n", BASE64.encode(salt)).as_bytes());
    // 32 bytes are 43 characters: one line, shorter than the 64 columns that would
    // call for another.
    out.extend_from_slice(BASE64.encode(&body).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(b"---");
    let mac = header_mac(&file_key, &out)?.finalize().into_bytes();
    out.push(b' ');
    out.extend_from_slice(BASE64.encode(mac).as_bytes());
    out.push(b'\n');

    out.extend_from_slice(&nonce);
    let aead = payload_cipher(&file_key, &nonce)?;
    let mut pieces = plaintext.chunks(CHUNK).peekable();
    if pieces.peek().is_none() {
        seal_chunk(&aead, 0, true, &[], &mut out)?;
    }
    let mut counter = 0u64;
    while let Some(piece) = pieces.next() {
        seal_chunk(&aead, counter, pieces.peek().is_none(), piece, &mut out)?;
        counter += 1;
    }
    Ok(out)
}

/// Decrypts an age v1 file made with a passphrase (by [`encrypt`], `age -p` or
/// `rage -p`). What it returns is wiped from memory when dropped.
pub fn decrypt(file: &[u8], passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, AgeError> {
    let header = Header::parse(file)?;
    let file_key = header.unwrap_scrypt(passphrase)?;
    header.open(&file_key)
}

/// A recipient stanza: `-> ARG ARG…` and its body.
struct Stanza<'a> {
    args: Vec<&'a str>,
    body: Vec<u8>,
}

/// A parsed header, and the payload after it.
struct Header<'a> {
    stanzas: Vec<Stanza<'a>>,
    /// The header up to and including `---`: what the MAC covers.
    authenticated: &'a [u8],
    mac: Vec<u8>,
    nonce: &'a [u8],
    chunks: &'a [u8],
}

impl<'a> Header<'a> {
    /// Parses the header by the specification's grammar, refusing anything else.
    fn parse(file: &'a [u8]) -> Result<Self, AgeError> {
        if file.len() > MAX_FILE_BYTES {
            return Err(AgeError::TooLarge(file.len()));
        }
        if file.starts_with(ARMOR_BEGIN) {
            return Err(AgeError::Armored);
        }
        let mut pos = 0;
        let version = next_line(file, &mut pos).map_err(|_| AgeError::NotAge)?;
        if version != VERSION_LINE {
            return Err(match version.strip_prefix(VERSION_PREFIX) {
                Some(v) if v.ends_with(b"\r") => {
                    AgeError::Header("its lines end with CR LF (converted to Windows line ends?)")
                }
                Some(v) => AgeError::Version(String::from_utf8_lossy(&v[..v.len().min(32)]).into()),
                None => AgeError::NotAge,
            });
        }
        let mut stanzas = Vec::new();
        loop {
            let start = pos;
            let line = next_line(file, &mut pos)?;
            if let Some(args) = line.strip_prefix(b"-> ") {
                stanzas.push(Stanza {
                    args: parse_args(args)?,
                    body: parse_body(file, &mut pos)?,
                });
            } else if let Some(mac) = line.strip_prefix(b"---") {
                let mac =
                    mac.strip_prefix(b" ")
                        .filter(|m| m.len() == 43)
                        .ok_or(AgeError::Header(
                            "the MAC line is not \"--- \" and 43 base64 characters",
                        ))?;
                let mac = BASE64
                    .decode(mac)
                    .map_err(|_| AgeError::Header("the MAC is not canonical base64"))?;
                if stanzas.is_empty() {
                    return Err(AgeError::Header("no recipient stanza"));
                }
                let rest = &file[pos..];
                if rest.len() < NONCE_LEN {
                    return Err(AgeError::Header(
                        "the payload's nonce is missing or cut short",
                    ));
                }
                let (nonce, chunks) = rest.split_at(NONCE_LEN);
                return Ok(Header {
                    stanzas,
                    authenticated: &file[..start + 3],
                    mac,
                    nonce,
                    chunks,
                });
            } else {
                return Err(AgeError::Header("a line is neither a stanza nor the MAC"));
            }
        }
    }

    /// The file key, from the scrypt stanza, which must be the only one.
    fn unwrap_scrypt(&self, passphrase: &[u8]) -> Result<FileKey, AgeError> {
        let is_scrypt = |s: &Stanza| s.args.first() == Some(&"scrypt");
        if self.stanzas.iter().any(is_scrypt) && self.stanzas.len() > 1 {
            return Err(AgeError::NotAlone);
        }
        let stanza = &self.stanzas[0];
        if !is_scrypt(stanza) {
            let kind = stanza.args.first().copied().unwrap_or_default();
            return Err(AgeError::NotPassphrase(kind.chars().take(32).collect()));
        }
        let [_, salt, work_factor] = stanza.args[..] else {
            return Err(AgeError::Header(
                "the scrypt stanza does not have a salt and a work factor alone",
            ));
        };
        let salt: [u8; SALT_LEN] = BASE64
            .decode(salt)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or(AgeError::Header(
                "the scrypt salt is not 16 bytes in canonical base64",
            ))?;
        let digits = work_factor.as_bytes();
        if digits.first().is_none_or(|d| !(b'1'..=b'9').contains(d))
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return Err(AgeError::Header(
                "the scrypt work factor is not a decimal number without leading zeros",
            ));
        }
        let log_n = match work_factor.parse::<u8>() {
            Ok(n) if n <= MAX_WORK_FACTOR => n,
            _ => return Err(AgeError::WorkFactor(work_factor.chars().take(20).collect())),
        };
        // Checked before decrypting, as the specification asks: a body of another
        // length would tell a partitioning oracle something.
        if stanza.body.len() != FILE_KEY_LEN + TAG {
            return Err(AgeError::Header("the scrypt stanza's body is not 32 bytes"));
        }
        let wrap = wrap_key(passphrase, &salt, log_n)?;
        let key = aead(&wrap)
            .decrypt(&Nonce::default(), stanza.body.as_slice())
            .map_err(|_| AgeError::WrongPassphrase)?;
        let key = Zeroizing::new(key);
        let mut file_key: FileKey = Zeroizing::new([0; FILE_KEY_LEN]);
        file_key.copy_from_slice(&key);
        Ok(file_key)
    }

    /// Checks the header's MAC, then decrypts the payload.
    fn open(&self, file_key: &FileKey) -> Result<Zeroizing<Vec<u8>>, AgeError> {
        header_mac(file_key, self.authenticated)?
            .verify_slice(&self.mac)
            .map_err(|_| AgeError::HeaderMac)?;
        let aead = payload_cipher(file_key, self.nonce)?;
        let mut out = Zeroizing::new(Vec::with_capacity(self.chunks.len()));
        let mut rest = self.chunks;
        let mut counter = 0u64;
        loop {
            if rest.is_empty() {
                return Err(AgeError::Payload("it ends before its final chunk"));
            }
            let (chunk, tail) = rest.split_at(rest.len().min(CHUNK + TAG));
            if chunk.len() < TAG {
                return Err(AgeError::Payload("a chunk is shorter than its tag"));
            }
            // A chunk is the final one exactly when nothing follows it: a final chunk
            // with more after it, or a non-final one at the end, fails to authenticate.
            let last = tail.is_empty();
            let plain = Zeroizing::new(
                aead.decrypt(&chunk_nonce(counter, last), chunk)
                    .map_err(|_| AgeError::Payload("a chunk does not authenticate"))?,
            );
            if last && plain.is_empty() && counter > 0 {
                return Err(AgeError::Payload("the final chunk is empty"));
            }
            out.extend_from_slice(&plain);
            if last {
                return Ok(out);
            }
            rest = tail;
            counter += 1;
        }
    }
}

/// The next line of `file` from `pos`, without its LF; `pos` moves past it.
fn next_line<'a>(file: &'a [u8], pos: &mut usize) -> Result<&'a [u8], AgeError> {
    let rest = &file[*pos..];
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(AgeError::Header("it ends inside the header"))?;
    *pos += end + 1;
    Ok(&rest[..end])
}

/// A stanza's arguments: one or more, separated by single spaces, of visible ASCII.
fn parse_args(line: &[u8]) -> Result<Vec<&str>, AgeError> {
    line.split(|&b| b == b' ')
        .map(|arg| {
            if arg.is_empty() || !arg.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return Err(AgeError::Header(
                    "a stanza argument is empty or not visible ASCII",
                ));
            }
            std::str::from_utf8(arg).map_err(|_| AgeError::Header("a stanza argument is not ASCII"))
        })
        .collect()
}

/// A stanza's body: lines of 64 base64 characters, ended by a shorter one (maybe empty).
fn parse_body(file: &[u8], pos: &mut usize) -> Result<Vec<u8>, AgeError> {
    let mut text = Vec::new();
    loop {
        let line = next_line(file, pos)?;
        if line.len() > COLUMNS {
            return Err(AgeError::Header(
                "a stanza's body line is longer than 64 columns",
            ));
        }
        if !line
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        {
            return Err(AgeError::Header(
                "a stanza's body is not base64 (or its final line is missing)",
            ));
        }
        text.extend_from_slice(line);
        if line.len() < COLUMNS {
            break;
        }
    }
    BASE64
        .decode(&text)
        .map_err(|_| AgeError::Header("a stanza's body is not canonical base64"))
}

/// scrypt(N = 2^log_n, r = 8, p = 1) of the passphrase, salted with the label and salt.
fn wrap_key(
    passphrase: &[u8],
    salt: &[u8; SALT_LEN],
    log_n: u8,
) -> Result<Zeroizing<[u8; 32]>, AgeError> {
    let params =
        scrypt::Params::new(log_n, 8, 1).map_err(|_| AgeError::WorkFactor(log_n.to_string()))?;
    let mut labelled = Vec::with_capacity(SCRYPT_LABEL.len() + SALT_LEN);
    labelled.extend_from_slice(SCRYPT_LABEL);
    labelled.extend_from_slice(salt);
    let mut key = Zeroizing::new([0; 32]);
    scrypt::scrypt(passphrase, &labelled, &params, key.as_mut())
        .map_err(|_| AgeError::Header("scrypt refused its parameters"))?;
    Ok(key)
}

/// HKDF-SHA-256 of the file key: 32 bytes.
fn derive(file_key: &FileKey, salt: &[u8], info: &[u8]) -> Result<Zeroizing<[u8; 32]>, AgeError> {
    let mut key = Zeroizing::new([0; 32]);
    Hkdf::<Sha256>::new(Some(salt), file_key.as_ref())
        .expand(info, key.as_mut())
        .map_err(|_| AgeError::Header("HKDF refused its length"))?;
    Ok(key)
}

/// The header's HMAC-SHA-256, keyed from the file key, over `authenticated`.
fn header_mac(file_key: &FileKey, authenticated: &[u8]) -> Result<Hmac<Sha256>, AgeError> {
    let key = derive(file_key, &[], b"header")?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref())
        .map_err(|_| AgeError::Header("HMAC refused its key"))?;
    mac.update(authenticated);
    Ok(mac)
}

/// The payload's cipher, keyed from the file key and the payload nonce.
fn payload_cipher(file_key: &FileKey, nonce: &[u8]) -> Result<ChaCha20Poly1305, AgeError> {
    let key = derive(file_key, nonce, b"payload")?;
    Ok(aead(&key))
}

/// ChaCha20-Poly1305 under a 32-byte key.
fn aead(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(key.into())
}

/// The STREAM nonce: an 11-byte big-endian chunk counter, then 1 for the final chunk.
fn chunk_nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::from(n)
}

fn seal_chunk(
    aead: &ChaCha20Poly1305,
    counter: u64,
    last: bool,
    plain: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), AgeError> {
    let sealed = aead
        .encrypt(&chunk_nonce(counter, last), plain)
        .map_err(|_| AgeError::Payload("cannot encrypt a chunk"))?;
    out.extend_from_slice(&sealed);
    Ok(())
}

fn random(buf: &mut [u8]) -> Result<(), AgeError> {
    getrandom::fill(buf).map_err(|e| AgeError::Random(e.to_string()))
}

#[cfg(test)]
mod tests;
