//! The one SDP edit the API's calls make: the media direction for hold and resume, with the
//! origin's version bumped (RFC 3264 §8.4, §8).

/// `sdp` with every direction attribute replaced by `a={direction}` (added after the first
/// `m=` line when there was none) and the `o=` session version increased by one.
pub fn with_direction(sdp: &str, direction: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + 16);
    let mut seen_direction = false;
    let mut lines: Vec<String> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if matches!(
            line,
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        ) {
            seen_direction = true;
            lines.push(format!("a={direction}"));
        } else if let Some(rest) = line.strip_prefix("o=") {
            lines.push(format!("o={}", bump_version(rest)));
        } else {
            lines.push(line.to_owned());
        }
    }
    if !seen_direction {
        match lines.iter().position(|l| l.starts_with("m=")) {
            Some(i) => lines.insert(i + 1, format!("a={direction}")),
            None => lines.push(format!("a={direction}")),
        }
    }
    for l in lines {
        out.push_str(&l);
        out.push_str("\r\n");
    }
    out
}

/// The media direction an offer asks for (`sendrecv` when none is written).
pub fn direction(sdp: &str) -> &'static str {
    for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
        match line {
            "a=sendonly" => return "sendonly",
            "a=recvonly" => return "recvonly",
            "a=inactive" => return "inactive",
            _ => {}
        }
    }
    "sendrecv"
}

fn bump_version(origin: &str) -> String {
    let mut parts: Vec<String> = origin.split(' ').map(str::to_owned).collect();
    if let Some(v) = parts.get_mut(2) {
        if let Ok(n) = v.parse::<u64>() {
            *v = (n + 1).to_string();
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_rewrites_direction_and_bumps_the_version() {
        let sdp = "v=0\r\no=u 1 7 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        let held = with_direction(sdp, "sendonly");
        assert!(held.contains("o=u 1 8 IN IP4"), "{held}");
        assert!(
            held.contains("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"),
            "{held}"
        );
        assert_eq!(direction(&held), "sendonly");
        let resumed = with_direction(&held, "sendrecv");
        assert!(resumed.contains("a=sendrecv") && !resumed.contains("sendonly"));
        assert!(resumed.contains("o=u 1 9 IN IP4"));
    }
}
