use std::path::Path;

use super::*;

const PASS: &[u8] = b"correct horse battery staple";

/// A cheap work factor: these tests check the format, not scrypt's cost.
const FAST: u8 = 2;

/// What the reference test vectors call each outcome.
fn class(r: &Result<Zeroizing<Vec<u8>>, AgeError>) -> &'static str {
    match r {
        Ok(_) => "success",
        Err(AgeError::HeaderMac) => "HMAC failure",
        Err(AgeError::Payload(_)) => "payload failure",
        Err(AgeError::WrongPassphrase | AgeError::NotPassphrase(_)) => "no match",
        Err(_) => "header failure",
    }
}

/// Decrypts with a known file key, for the vectors whose recipients are X25519 keys:
/// header grammar, MAC and payload, without the stanza.
fn open_with_file_key(file: &[u8], key: &[u8]) -> Result<Zeroizing<Vec<u8>>, AgeError> {
    let header = Header::parse(file)?;
    let mut file_key: FileKey = Zeroizing::new([0; FILE_KEY_LEN]);
    file_key.copy_from_slice(key);
    header.open(&file_key)
}

/// The reference implementation's test vectors (C2SP/CCTV, age/testdata): those that
/// are not compressed, armored or about X25519 keys, which this module does not read.
#[test]
fn the_reference_test_vectors_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/age-testkit");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("the test vectors") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        let data = std::fs::read(&path).expect("read");
        let split = data
            .windows(2)
            .position(|w| w == b"\n\n")
            .expect("a blank line after the vector's header");
        let meta = std::str::from_utf8(&data[..split]).expect("utf-8 header");
        let file = &data[split + 2..];
        let field = |k: &str| {
            meta.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix(": ")))
        };
        let expect = field("expect").expect("expect");
        let got = match field("passphrase") {
            Some(p) => decrypt(file, p.as_bytes()),
            None => {
                let key = hex::decode(field("file key").expect("file key")).expect("hex");
                open_with_file_key(file, &key)
            }
        };
        assert_eq!(class(&got), expect, "{name}: {:?}", got.as_ref().err());
        if let (Ok(plain), Some(hash)) = (&got, field("payload")) {
            use sha2::Digest;
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&plain[..])),
                hash,
                "{name}"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 60,
        "only {checked} vectors found in {}",
        dir.display()
    );
}

#[test]
fn round_trips_at_every_chunk_boundary() {
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7] {
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let file = encrypt(&plain, PASS, FAST).expect("encrypt");
        // Nonce, then one tag per chunk; a full last chunk is not followed by an
        // empty one, and an empty plaintext still has its one (empty) final chunk.
        let chunks = len.div_ceil(CHUNK).max(1);
        let header_len = file.len() - NONCE_LEN - len - chunks * TAG;
        assert!(file[..header_len].ends_with(b"\n"), "{len}");
        assert_eq!(
            &decrypt(&file, PASS).expect("decrypt")[..],
            &plain[..],
            "{len}"
        );
    }
}

#[test]
fn the_header_is_what_age_writes() {
    let file = encrypt(b"x", PASS, FAST).expect("encrypt");
    let text = String::from_utf8_lossy(&file);
    let lines: Vec<&str> = text.split('\n').take(4).collect();
    assert_eq!(lines[0], "age-encryption.org/v1");
    let args: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(args[..2], ["->", "scrypt"]);
    assert_eq!(BASE64.decode(args[2]).expect("salt").len(), SALT_LEN);
    assert_eq!(args[3], "2");
    assert_eq!(BASE64.decode(lines[2]).expect("body").len(), 32);
    assert!(
        lines[3].starts_with("--- ") && lines[3].len() == 47,
        "{}",
        lines[3]
    );
    // Two files of the same text under the same passphrase share nothing.
    let again = encrypt(b"x", PASS, FAST).expect("encrypt");
    assert_ne!(file[22..60], again[22..60]);
}

#[test]
fn a_wrong_passphrase_is_named() {
    let file = encrypt(b"secret", PASS, FAST).expect("encrypt");
    assert_eq!(
        decrypt(&file, b"correct horse battery stapl"),
        Err(AgeError::WrongPassphrase)
    );
    assert_eq!(decrypt(&file, b""), Err(AgeError::WrongPassphrase));
}

/// The header of a file as lines, for tests that rewrite it.
fn rewrite_header(file: &[u8], edit: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let end = file
        .windows(4)
        .position(|w| w == b"\n---")
        .expect("mac line")
        + 1;
    let mac_end = end + file[end..].iter().position(|&b| b == b'\n').expect("lf") + 1;
    let mut lines: Vec<String> = String::from_utf8(file[..mac_end].to_vec())
        .expect("ascii")
        .lines()
        .map(str::to_owned)
        .collect();
    edit(&mut lines);
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out.extend_from_slice(&file[mac_end..]);
    out
}

#[test]
fn a_work_factor_over_the_bound_is_refused_before_any_work() {
    let file = encrypt(b"x", PASS, FAST).expect("encrypt");
    for wf in ["21", "30", "64", "255", "99999999999999999999"] {
        let bad = rewrite_header(&file, |l| {
            let salt = l[1].split(' ').nth(2).expect("salt").to_owned();
            l[1] = format!("-> scrypt {salt} {wf}");
        });
        let started = std::time::Instant::now();
        assert_eq!(decrypt(&bad, PASS), Err(AgeError::WorkFactor(wf.into())));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
    assert!(matches!(
        encrypt(b"x", PASS, 21),
        Err(AgeError::WorkFactor(_))
    ));
    assert!(matches!(
        encrypt(b"x", PASS, 0),
        Err(AgeError::WorkFactor(_))
    ));
}

#[test]
fn a_stanza_beside_the_passphrase_is_refused() {
    let file = encrypt(b"x", PASS, FAST).expect("encrypt");
    // Before it, after it, or a second scrypt stanza: all refused, whatever the MAC.
    for (at, stanza) in [
        (1, "-> X25519 abc"),
        (3, "-> grease x"),
        (3, "-> scrypt AAAAAAAAAAAAAAAAAAAAAA 2"),
    ] {
        let bad = rewrite_header(&file, |l| {
            l.insert(at, String::new());
            l.insert(at, stanza.to_owned());
        });
        assert_eq!(
            decrypt(&bad, PASS),
            Err(AgeError::NotAlone),
            "{stanza} at {at}"
        );
    }
}

#[test]
fn a_file_for_keys_not_passphrases_is_named() {
    let file = encrypt(b"x", PASS, FAST).expect("encrypt");
    let other = rewrite_header(&file, |l| {
        l[1] = "-> X25519 TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc".into();
    });
    assert_eq!(
        decrypt(&other, PASS),
        Err(AgeError::NotPassphrase("X25519".into()))
    );
}

#[test]
fn a_changed_header_fails_its_mac() {
    let file = encrypt(b"x", PASS, FAST).expect("encrypt");
    let changed = rewrite_header(&file, |l| {
        let mut mac = BASE64.decode(&l[3][4..]).expect("mac");
        mac[0] ^= 1;
        l[3] = format!("--- {}", BASE64.encode(mac));
    });
    assert_eq!(decrypt(&changed, PASS), Err(AgeError::HeaderMac));
    // A changed salt or work factor derives another key: the passphrase fails first.
    let salt_changed = rewrite_header(&file, |l| {
        let mut parts: Vec<String> = l[1].split(' ').map(str::to_owned).collect();
        let mut salt = BASE64.decode(&parts[2]).expect("salt");
        salt[0] ^= 1;
        parts[2] = BASE64.encode(salt);
        l[1] = parts.join(" ");
    });
    assert_eq!(decrypt(&salt_changed, PASS), Err(AgeError::WrongPassphrase));
}

#[test]
fn truncated_or_extended_payloads_are_refused() {
    let plain = vec![7u8; CHUNK + 10];
    let file = encrypt(&plain, PASS, FAST).expect("encrypt");
    let payload_at = file.len() - (NONCE_LEN + plain.len() + 2 * TAG);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("last byte cut", file[..file.len() - 1].to_vec()),
        (
            "final chunk cut off",
            file[..payload_at + NONCE_LEN + CHUNK + TAG].to_vec(),
        ),
        ("a byte appended", [&file[..], b"\0"].concat()),
        ("payload gone", file[..payload_at + NONCE_LEN].to_vec()),
        ("a chunk's tag changed", {
            let mut f = file.clone();
            let at = f.len() - 1;
            f[at] ^= 1;
            f
        }),
    ];
    for (what, bad) in cases {
        assert!(
            matches!(decrypt(&bad, PASS), Err(AgeError::Payload(_))),
            "{what}"
        );
    }
    assert!(matches!(
        decrypt(&file[..payload_at + 3], PASS),
        Err(AgeError::Header(_))
    ));
}

/// An age file with the given chunks, each with its own final flag, as a faulty or
/// hostile writer could make it.
fn with_chunks(chunks: &[(&[u8], bool)]) -> Vec<u8> {
    let file = encrypt(b"", PASS, FAST).expect("encrypt");
    let header = Header::parse(&file).expect("parse");
    let key = header.unwrap_scrypt(PASS).expect("key");
    let aead = payload_cipher(&key, header.nonce).expect("cipher");
    let mut out = file[..file.len() - TAG].to_vec();
    for (i, (plain, last)) in chunks.iter().enumerate() {
        seal_chunk(&aead, i as u64, *last, plain, &mut out).expect("seal");
    }
    out
}

#[test]
fn the_final_chunk_rules_hold() {
    let full = vec![1u8; CHUNK];
    // The reference shape decrypts; the test helper is sound.
    assert_eq!(
        decrypt(&with_chunks(&[(&full, false), (b"x", true)]), PASS)
            .expect("ok")
            .len(),
        CHUNK + 1
    );
    assert_eq!(
        decrypt(&with_chunks(&[(&full, true)]), PASS)
            .expect("ok")
            .len(),
        CHUNK
    );
    assert_eq!(
        decrypt(&with_chunks(&[(b"", true)]), PASS)
            .expect("ok")
            .len(),
        0
    );
    let bad: [(&str, Vec<u8>); 4] = [
        (
            "an empty final chunk after a full one",
            with_chunks(&[(&full, false), (b"", true)]),
        ),
        ("no final chunk", with_chunks(&[(&full, false)])),
        (
            "two final chunks",
            with_chunks(&[(&full, true), (b"x", true)]),
        ),
        (
            "a short chunk that is not final",
            with_chunks(&[(b"x", false)]),
        ),
    ];
    for (what, file) in bad {
        assert!(
            matches!(decrypt(&file, PASS), Err(AgeError::Payload(_))),
            "{what}"
        );
    }
}

#[test]
fn sizes_are_bounded_both_ways() {
    let big = vec![0u8; MAX_FILE_BYTES + 1];
    assert_eq!(decrypt(&big, PASS), Err(AgeError::TooLarge(big.len())));
    assert!(matches!(
        encrypt(&big, PASS, FAST),
        Err(AgeError::TooLarge(_))
    ));
    // The largest plaintext encrypt takes, decrypt reads back.
    let most = MAX_FILE_BYTES - 256 - NONCE_LEN - (MAX_FILE_BYTES / CHUNK + 1) * TAG;
    let file = encrypt(&vec![3u8; most], PASS, FAST).expect("encrypt");
    assert!(file.len() <= MAX_FILE_BYTES);
    assert_eq!(decrypt(&file, PASS).expect("decrypt").len(), most);
}

#[test]
fn other_files_are_named() {
    assert_eq!(decrypt(b"", PASS), Err(AgeError::NotAge));
    assert_eq!(decrypt(b"hello\n", PASS), Err(AgeError::NotAge));
    assert_eq!(
        decrypt(b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n", PASS),
        Err(AgeError::Armored)
    );
    assert_eq!(
        decrypt(b"age-encryption.org/v2\n-> x\n\n--- x\n", PASS),
        Err(AgeError::Version("v2".into()))
    );
}
