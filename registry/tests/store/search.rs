//! Search: ranking, filters and paging, the text index kept in step with sled,
//! watch filters.

use super::*;

#[test]
fn search_ranks_filters_and_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let guildford = SecretKey::from_seed(&[4; 32]);
    let leeds = SecretKey::from_seed(&[5; 32]);
    reg.put(
        &sign(
            &guildford,
            sample::org("gss:E07000209", "Guildford Borough Council", 1, NOW),
        ),
        NOW,
    )
    .expect("org");
    reg.put(
        &sign(
            &leeds,
            sample::org("gss:E08000035", "Leeds City Council", 1, NOW),
        ),
        NOW,
    )
    .expect("org");
    let addr = stored(
        reg.put(
            &sign(
                &guildford,
                sample::service(
                    "address-lookup",
                    1,
                    "Address lookup",
                    "Search addresses by postcode and UPRN.",
                    &[1421],
                    &["E07000209"],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put"),
    );
    let bins_leeds = stored(
        reg.put(
            &sign(
                &leeds,
                sample::service(
                    "bins",
                    1,
                    "Bin collection days",
                    "When are my bins collected? Lookup by address.",
                    &[524],
                    &["E08000035"],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put"),
    );
    for i in 0..25 {
        reg.put(
            &sign(
                &leeds,
                sample::service(
                    &format!("svc-{i}"),
                    1,
                    &format!("Parking permit service {i}"),
                    "Apply for a parking permit.",
                    &[1000],
                    &["E08000035"],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put");
    }
    let q = |text: &str| Query {
        text: text.into(),
        page_size: 10,
        ..Default::default()
    };

    let p = reg.search(&q("address")).expect("search");
    assert_eq!(p.hits[0].id, addr, "the title match ranks first");
    assert_eq!(p.total, 2);

    let p = reg
        .search(&Query {
            lgsl: Some(524),
            ..q("")
        })
        .expect("search");
    assert_eq!(
        p.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![bins_leeds]
    );
    let p = reg
        .search(&Query {
            area: Some("E07000209".into()),
            kind: Some("service".into()),
            ..q("")
        })
        .expect("search");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![addr]);
    let p = reg
        .search(&Query {
            org: Some("gss:E07000209".into()),
            kind: Some("service".into()),
            ..q("")
        })
        .expect("search");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![addr]);
    let p = reg
        .search(&Query {
            status: Some("LIVE".into()),
            ..q("collected")
        })
        .expect("search");
    assert_eq!(
        p.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![bins_leeds],
        "stemmed match"
    );
    assert!(
        reg.search(&Query {
            area: Some("leeds".into()),
            ..q("")
        })
        .is_err(),
        "a bad GSS code is refused"
    );

    // Paging visits every permit exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = None;
    loop {
        let p = reg
            .search(&Query {
                cursor: cursor.clone(),
                page_size: 7,
                ..q("parking permit")
            })
            .expect("search");
        assert_eq!(p.total, 25);
        for h in &p.hits {
            assert!(seen.insert(h.id), "seen twice");
        }
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(
        reg.search(&Query {
            cursor: Some("zz".into()),
            ..q("x")
        })
        .is_err(),
        "a forged cursor is refused"
    );
}

#[test]
fn an_update_replaces_the_indexed_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[6; 32]);
    reg.put(
        &sign(
            &key,
            sample::service(
                "x",
                1,
                "Pothole reporting",
                "Report a pothole.",
                &[],
                &[],
                NOW,
            ),
        ),
        NOW,
    )
    .expect("put");
    let v2 = stored(
        reg.put(
            &sign(
                &key,
                sample::service(
                    "x",
                    2,
                    "Street lighting faults",
                    "Report a broken street light.",
                    &[],
                    &[],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put"),
    );
    assert!(
        reg.search(&Query {
            text: "pothole".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("s")
        .hits
        .is_empty()
    );
    let p = reg
        .search(&Query {
            text: "lighting".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("s");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![v2]);
}

/// A name's first head is indexed without deleting anything first (there is nothing to
/// delete); a later version of it, in the same batch or the next, still replaces it.
#[test]
fn a_new_name_and_its_update_in_one_batch_leave_one_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[5; 32]);
    let svc = |v: u64, title: &str| {
        sign(
            &key,
            sample::service("x", v, title, "Report it.", &[], &[], NOW),
        )
    };
    let hits = |text: &str| {
        reg.wait_indexed().expect("indexed");
        reg.search(&Query {
            text: text.into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("search")
        .hits
        .iter()
        .map(|h| h.id)
        .collect::<Vec<_>>()
    };
    let out = reg
        .put_batch(
            &[
                svc(1, "Pothole reporting"),
                svc(2, "Street lighting faults"),
            ],
            NOW,
        )
        .expect("batch");
    let v2 = stored(out[1].clone());
    assert!(
        hits("pothole").is_empty(),
        "v1 was replaced within the batch"
    );
    assert_eq!(hits("lighting"), vec![v2]);
    let v3 = stored(
        reg.put_batch(&[svc(3, "Graffiti removal")], NOW)
            .expect("batch")[0]
            .clone(),
    );
    assert!(
        hits("lighting").is_empty(),
        "v2 was replaced by the next batch"
    );
    assert_eq!(hits("graffiti"), vec![v3]);
    assert_eq!(reg.counts().expect("counts").heads, 1);
}

#[test]
fn a_lost_text_index_is_rebuilt_from_sled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(&[7; 32]);
    let id = {
        let reg = open(&dir);
        stored(
            reg.put(&sign(&key, bins(1, "Bin collection days")), NOW)
                .expect("put"),
        )
    };
    std::fs::remove_dir_all(dir.path().join("text-v5")).expect("remove index");
    let reg = open(&dir);
    let p = reg
        .search(&Query {
            text: "collection".into(),
            page_size: 5,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(p.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![id]);
}

#[test]
fn a_watch_filter_hears_of_a_matching_service_being_withdrawn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[31; 32]);
    let other = SecretKey::from_seed(&[32; 32]);
    stored(reg.put(&sign(&key, bins(1, "Bins")), NOW).expect("put"));
    let mut parking = bins(1, "Parking permits");
    parking.name = "parking".into();
    if let Some(lgmesh_protocol::v1::manifest_body::Kind::Service(s)) = &mut parking.kind
        && let Some(l) = &mut s.local
    {
        l.lgsl = vec![1109];
    }
    stored(reg.put(&sign(&other, parking), NOW).expect("put"));
    let gone = |reg: &Registry, key: &SecretKey, name: &str| {
        let id = stored(
            reg.put(&sign(key, sample::retraction(name, 2, NOW)), NOW)
                .expect("put"),
        );
        reg.get(&id).expect("get").expect("stored")
    };
    let bins_gone = gone(&reg, &key, "bin-collection");
    let parking_gone = gone(&reg, &other, "parking");
    let q = |lgsl: u32, kind: Option<&str>, include_retracted: bool| Query {
        lgsl: Some(lgsl),
        kind: kind.map(str::to_string),
        include_retracted,
        now_ms: NOW,
        ..Default::default()
    };
    let hears = |q: &Query, s| reg.stream_matches(q, s).expect("match");
    // Following LGSL 524 with retractions: the bins service's withdrawal, not parking's.
    assert!(hears(&q(524, None, true), &bins_gone));
    assert!(!hears(&q(524, None, true), &parking_gone));
    assert!(hears(&q(524, Some("service"), true), &bins_gone));
    assert!(!hears(&q(524, Some("dataset"), true), &bins_gone));
    // Without include_retracted, a withdrawal stays hidden, as in search.
    assert!(!hears(&q(524, None, false), &bins_gone));
    // A text filter is judged against the withdrawn version too.
    let text = |t: &str| Query {
        text: t.into(),
        include_retracted: true,
        now_ms: NOW,
        ..Default::default()
    };
    assert!(hears(&text("bins"), &bins_gone));
    assert!(!hears(&text("parking"), &bins_gone));
    // A retraction of a name this node never held matches by its own fields only.
    let stranger = SecretKey::from_seed(&[33; 32]);
    let never = gone(&reg, &stranger, "bin-collection");
    assert!(!hears(&q(524, None, true), &never));
    assert!(hears(&text(""), &never));
}

#[test]
fn datasets_and_services_are_found_by_the_standard_they_conform_to() {
    const WASTE: &str = "https://standards.iteh.ai/local-waste-service-standards";
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let key = SecretKey::from_seed(&[41; 32]);
    let rounds = stored(
        reg.put(
            &sign(
                &key,
                sample::dataset(
                    "rounds",
                    1,
                    "Bin rounds",
                    "Collection rounds.",
                    &[WASTE],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put"),
    );
    let mut api = sample::service("bins-api", 1, "Bins API", "Bin days.", &[524], &[], NOW);
    if let Some(lgmesh_protocol::v1::manifest_body::Kind::Service(s)) = &mut api.kind
        && let Some(l) = &mut s.local
    {
        l.standards = vec![format!("{}/", WASTE.to_uppercase())];
    }
    let api = stored(reg.put(&sign(&key, api), NOW).expect("put"));
    stored(
        reg.put(
            &sign(
                &key,
                sample::dataset(
                    "other",
                    1,
                    "Other",
                    "Not waste.",
                    &["https://x.example/"],
                    NOW,
                ),
            ),
            NOW,
        )
        .expect("put"),
    );
    reg.wait_indexed().expect("indexed");
    let q = |standard: &str| Query {
        standard: Some(standard.into()),
        page_size: 10,
        now_ms: NOW,
        ..Default::default()
    };
    // A trailing slash and case do not matter, on either side.
    let mut ids = reg
        .search(&q(&format!("{WASTE}/")))
        .expect("search")
        .hits
        .iter()
        .map(|h| h.id)
        .collect::<Vec<_>>();
    ids.sort();
    let mut want = vec![rounds, api];
    want.sort();
    assert_eq!(ids, want);
    // A watch applies the same rule to each new manifest.
    let s = reg.get(&api).expect("get").expect("stored");
    assert!(reg.stream_matches(&q(WASTE), &s).expect("match"));
    assert!(
        !reg.stream_matches(&q("https://x.example"), &s)
            .expect("match")
    );
    // An empty or overlong standard is refused, naming the field.
    for bad in [" / ".to_owned(), "x".repeat(3000)] {
        let e = reg.search(&q(&bad)).expect_err("refused").to_string();
        assert!(e.starts_with("standard:"), "{e}");
    }
}

#[test]
fn services_and_adoptions_that_answer_a_need_are_found_by_it_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = open(&dir);
    let poster = SecretKey::from_seed(&[51; 32]);
    let council = SecretKey::from_seed(&[52; 32]);
    let other = SecretKey::from_seed(&[53; 32]);
    stored(
        reg.put(
            &sign(
                &poster,
                sample::need("bulky-waste", "Bulky waste booking", &[863], NOW),
            ),
            NOW,
        )
        .expect("put"),
    );
    let need = lgmesh_protocol::v1::NeedRef {
        publisher: poster.public().as_bytes().to_vec(),
        name: "bulky-waste".into(),
    };
    let mut svc = sample::service(
        "bulky",
        1,
        "Bulky waste booking",
        "Book a collection.",
        &[863],
        &[],
        NOW,
    );
    if let Some(lgmesh_protocol::v1::manifest_body::Kind::Service(s)) = &mut svc.kind {
        s.answers = vec![need.clone()];
    }
    let svc = stored(reg.put(&sign(&council, svc), NOW).expect("put"));
    let mut adoption = sample::adoption(&council.public(), "bulky", 1, NOW);
    if let Some(lgmesh_protocol::v1::manifest_body::Kind::Adoption(a)) = &mut adoption.kind {
        a.answers = vec![need.clone()];
    }
    let adoption = stored(reg.put(&sign(&other, adoption), NOW).expect("put"));
    // Unrelated: a service answering nothing.
    stored(
        reg.put(
            &sign(&other, sample::service("x", 1, "X", "Y.", &[863], &[], NOW)),
            NOW,
        )
        .expect("put"),
    );
    reg.wait_indexed().expect("indexed");
    let q = |answers: String| Query {
        answers: Some(answers),
        page_size: 10,
        now_ms: NOW,
        ..Default::default()
    };
    let mut want = vec![svc, adoption];
    want.sort();
    for filter in [
        format!("{}/bulky-waste", poster.public()),
        poster.public().to_string(),
    ] {
        let mut got: Vec<_> = reg
            .search(&q(filter.clone()))
            .expect("search")
            .hits
            .iter()
            .map(|h| h.id)
            .collect();
        got.sort();
        assert_eq!(got, want, "{filter}");
        // A watch hears the same, adoptions included.
        for id in [svc, adoption] {
            let s = reg.get(&id).expect("get").expect("stored");
            assert!(
                reg.stream_matches(&q(filter.clone()), &s).expect("match"),
                "{filter}"
            );
        }
    }
    let none = reg
        .search(&q(format!("{}/other-need", poster.public())))
        .expect("search");
    assert_eq!(none.total, 0);
    let e = reg
        .search(&q("not-a-key/x".into()))
        .expect_err("refused")
        .to_string();
    assert!(e.starts_with("answers:"), "{e}");

    // Answers are signed claims with rules: a key of 32 bytes, a name, none twice, 16 at most.
    let bad = |refs: Vec<lgmesh_protocol::v1::NeedRef>| {
        let mut b = sample::service("bad", 1, "Bad", "Bad.", &[863], &[], NOW);
        if let Some(lgmesh_protocol::v1::manifest_body::Kind::Service(s)) = &mut b.kind {
            s.answers = refs;
        }
        match reg.put(&sign(&council, b), NOW).expect("put") {
            PutOutcome::Rejected(r) => r.message,
            other => panic!("accepted: {other:?}"),
        }
    };
    let short = lgmesh_protocol::v1::NeedRef {
        publisher: vec![1; 31],
        name: "x".into(),
    };
    assert!(bad(vec![short]).contains("answers[0].publisher"));
    assert!(bad(vec![need.clone(), need.clone()]).contains("answers[1]: names a need twice"));
    let many = (0..17)
        .map(|i| lgmesh_protocol::v1::NeedRef {
            publisher: need.publisher.clone(),
            name: format!("n{i}"),
        })
        .collect();
    assert!(bad(many).contains("answers: at most 16"));
}
