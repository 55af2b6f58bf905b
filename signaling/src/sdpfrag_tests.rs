use super::*;

const TRICKLE: &str = "a=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
a=mid:0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw\r\n\
a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active\r\n\
a=end-of-candidates\r\n";

#[test]
fn rfc_example_parses() {
    let f = SdpFrag::parse(TRICKLE).unwrap_or_default();
    assert_eq!(f.ice_ufrag.as_deref(), Some("EsAw"));
    assert_eq!(f.ice_pwd.as_deref(), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
    assert_eq!(f.candidates.len(), 2);
    assert_eq!(f.candidates[0].mid.as_deref(), Some("0"));
    assert_eq!(f.candidates[0].mline_index, 0);
    assert!(f.candidates[0]
        .candidate
        .starts_with("candidate:1387637174 1 udp"));
    assert!(f.end_of_candidates);
    assert!(!f.is_restart("EsAw"));
    assert!(f.is_restart("other"));
}

#[test]
fn candidates_without_credentials_or_mline() {
    let f = SdpFrag::parse("a=candidate:1 1 UDP 5 127.0.0.1 5000 typ host\n").unwrap_or_default();
    assert_eq!(f.candidates.len(), 1);
    assert_eq!(f.candidates[0].mid, None);
    assert!(!f.is_restart("x"));
}

#[test]
fn malformed_fragments_say_why() {
    let cases = [
        ("", "empty"),
        ("hello world\r\n", "not an SDP line"),
        ("a=candidate:1 1 udp 5 127.0.0.1\r\n", "fields"),
        (
            "a=candidate:1 1 sctp 5 127.0.0.1 5000 typ host\r\n",
            "transport",
        ),
        ("a=candidate:1 1 udp 5 127.0.0.1 99999 typ host\r\n", "port"),
        ("a=candidate:1 1 udp 5 127.0.0.1 5000 type host\r\n", "typ"),
        ("a=ice-pwd:abc\r\n", "without a=ice-ufrag"),
        ("a=ice-ufrag:abc\r\n", "without a=ice-pwd"),
        ("a=ice-ufrag:\r\na=ice-pwd:x\r\n", "no value"),
    ];
    for (text, why) in cases {
        match SdpFrag::parse(text) {
            Ok(f) => panic!("{text:?} accepted: {f:?}"),
            Err(e) => assert!(e.to_string().contains(why), "{text:?}: {e}"),
        }
    }
}

#[test]
fn restart_offer_and_answer_fragment() {
    let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\n\
               a=mid:0\r\na=candidate:1 1 udp 5 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n\
               m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\na=mid:1\r\n";
    let offer = with_credentials(sdp, "new", "newpwd");
    assert_eq!(offer.matches("a=ice-ufrag:new").count(), 2);
    assert!(!offer.contains("old"));
    assert!(!offer.contains("candidate"));

    let p = IceParams::of_sdp(sdp);
    assert_eq!((p.ufrag.as_str(), p.pwd.as_str()), ("old", "oldpwd"));
    assert_eq!(p.mid.as_deref(), Some("0"));
    assert_eq!(p.candidates.len(), 1);
    let frag = p.answer_frag(sdp);
    let back = SdpFrag::parse(&frag).unwrap_or_default();
    assert_eq!(back.ice_ufrag.as_deref(), Some("old"));
    assert_eq!(back.candidates.len(), 1);
    assert!(back.end_of_candidates);
    assert!(frag.contains("m=video 9 UDP/TLS/RTP/SAVPF 102\r\n"));
}
